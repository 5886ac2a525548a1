"""Fenicia's URLs plus the benchmark's baseline views."""

from django.urls import path

from fenicia.urls import urlpatterns as fenicia_urlpatterns

from . import views

urlpatterns = [
    path("bench/ping/", views.ping, name="bench-ping"),
    path("bench/baseline/webhook/", views.baseline_webhook, name="bench-baseline-webhook"),
    *fenicia_urlpatterns,
]
