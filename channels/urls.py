from django.urls import path

from . import views

app_name = "channels"
urlpatterns = [
    path("", views.channel_list, name="list"),
    path("new/", views.channel_create, name="create"),
    path("<int:channel_id>/", views.channel_detail, name="detail"),
    path("<int:channel_id>/reconnect/", views.channel_reconnect, name="reconnect"),
    path("<int:channel_id>/sync/", views.channel_sync, name="sync"),
    path("<int:channel_id>/runs/<int:run_id>/", views.channel_run, name="run"),
    path("<int:channel_id>/pause/", views.channel_pause, name="pause"),
    path("<int:channel_id>/resume/", views.channel_resume, name="resume"),
    path("<int:channel_id>/webhooks/<int:event_id>/replay/", views.channel_webhook_replay, name="webhook-replay"),
]
