from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from channels.webhooks import webhook_receiver

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("orders/", include("orders.urls")),
    path("channels/", include("channels.urls")),
    path("inventory/", include("inventory.urls")),
    path("webhooks/<slug:kind>/<int:channel_id>/", webhook_receiver, name="webhook"),
    path("api/", include("fenicia.api_urls")),
    path("admin/", admin.site.urls),
]
