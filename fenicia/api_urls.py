"""The REST API, mounted at /api/. Token or session authentication (settings.REST_FRAMEWORK);
the OpenAPI schema is at /api/schema/. There is no docs UI: drf-spectacular's Swagger and
Redoc views load their JavaScript from a CDN, and Fenicia must work offline."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from channels import api as channels_api
from orders import api as orders_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("inventory/", include("inventory.api_urls")),
    path("channels/", channels_api.ChannelListCreateApi.as_view(), name="api-channels"),
    path("channels/<int:channel_id>/", channels_api.ChannelDetailApi.as_view(), name="api-channel"),
    path("channels/<int:channel_id>/sync/", orders_api.ChannelSyncApi.as_view(), name="api-channel-sync"),
    path("channels/<int:channel_id>/runs/", channels_api.ChannelRunListApi.as_view(), name="api-channel-runs"),
    path("runs/<int:run_id>/", channels_api.SyncRunDetailApi.as_view(), name="api-run"),
    path("orders/", orders_api.OrderListApi.as_view(), name="api-orders"),
    path("orders/resync/", orders_api.OrderResyncApi.as_view(), name="api-orders-resync"),
    path("orders/<int:order_id>/", orders_api.OrderDetailApi.as_view(), name="api-order"),
    path("orders/<int:order_id>/sync/", orders_api.OrderSyncApi.as_view(), name="api-order-sync"),
    path("orders/<int:order_id>/timeline/", orders_api.OrderTimelineApi.as_view(), name="api-order-timeline"),
    path("orders/<int:order_id>/ship/", orders_api.OrderShipApi.as_view(), name="api-order-ship"),
    path("orders/<int:order_id>/cancel/", orders_api.OrderCancelApi.as_view(), name="api-order-cancel"),
    path(
        "orders/<int:order_id>/shipments/<int:shipment_id>/tracking/",
        orders_api.ShipmentTrackingApi.as_view(),
        name="api-shipment-tracking",
    ),
    path(
        "orders/<int:order_id>/shipments/<int:shipment_id>/sync/",
        orders_api.ShipmentSyncApi.as_view(),
        name="api-shipment-sync",
    ),
    path(
        "orders/<int:order_id>/shipments/<int:shipment_id>/label/",
        orders_api.ShipmentLabelApi.as_view(),
        name="api-shipment-label",
    ),
    path("shipments/sync/", orders_api.ShipmentsSyncApi.as_view(), name="api-shipments-sync"),
]
