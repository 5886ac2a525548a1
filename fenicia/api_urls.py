from drf_spectacular.views import SpectacularAPIView
from django.urls import path

urlpatterns = [path("schema/", SpectacularAPIView.as_view(), name="schema")]
