"""The inventory REST API, mounted at /api/inventory/ by fenicia/api_urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("sources/", api.SourceListCreateApi.as_view(), name="api-inventory-sources"),
    path("sources/<int:source_id>/", api.SourceDetailApi.as_view(), name="api-inventory-source"),
    path("sources/<int:source_id>/sync/", api.SourceSyncApi.as_view(), name="api-inventory-source-sync"),
    path("sources/<int:source_id>/runs/", api.SourceRunListApi.as_view(), name="api-inventory-source-runs"),
    path("runs/<int:run_id>/", api.RunDetailApi.as_view(), name="api-inventory-run"),
    path("products/", api.ProductListCreateApi.as_view(), name="api-inventory-products"),
    path("products/<int:product_id>/", api.ProductDetailApi.as_view(), name="api-inventory-product"),
    path("stock-levels/", api.StockLevelListApi.as_view(), name="api-inventory-stock-levels"),
]
