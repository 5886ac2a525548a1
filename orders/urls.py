from django.urls import path

from . import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("resync/", views.order_resync, name="resync"),
    path("resync/progress/", views.resync_progress, name="resync-progress"),
    path("bulk/ship/", views.orders_bulk_ship, name="bulk-ship"),
    path("bulk/sync-shipments/", views.orders_bulk_sync_shipments, name="bulk-sync-shipments"),
    path("shipments/sync-pending/", views.orders_sync_pending_shipments, name="sync-pending-shipments"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/sync/", views.order_sync, name="sync"),
    path("<int:order_id>/timeline/", views.order_timeline, name="timeline"),
    path("<int:order_id>/ship/", views.order_ship, name="ship"),
    path("<int:order_id>/cancel/", views.order_cancel, name="cancel"),
    path("<int:order_id>/shipments/", views.order_shipments, name="shipments"),
    path("<int:order_id>/shipments/sync/", views.order_shipments_sync, name="shipments-sync"),
    path("<int:order_id>/shipments/<int:shipment_id>/tracking/", views.shipment_tracking, name="shipment-tracking"),
    path("<int:order_id>/shipments/<int:shipment_id>/sync/", views.shipment_sync, name="shipment-sync"),
    path("<int:order_id>/shipments/<int:shipment_id>/label/", views.shipment_label, name="shipment-label"),
]
