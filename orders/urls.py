from django.urls import path

from . import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("resync/", views.order_resync, name="resync"),
    path("resync/progress/", views.resync_progress, name="resync-progress"),
    path("<int:order_id>/", views.order_detail, name="detail"),
    path("<int:order_id>/sync/", views.order_sync, name="sync"),
    path("<int:order_id>/timeline/", views.order_timeline, name="timeline"),
]
