from django.urls import path

from . import views

app_name = "inventory"
urlpatterns = [
    path("", views.source_list, name="source-list"),
    path("sources/new/", views.source_create, name="source-create"),
    path("sources/<int:source_id>/", views.source_detail, name="source-detail"),
    path("sources/<int:source_id>/edit/", views.source_edit, name="source-edit"),
    path("sources/<int:source_id>/delete/", views.source_delete, name="source-delete"),
    path("sources/<int:source_id>/sync/", views.source_sync, name="source-sync"),
    path("sources/<int:source_id>/runs/<int:run_id>/", views.source_run, name="source-run"),
    path("sources/<int:source_id>/unmapped/", views.unmapped_create, name="unmapped-create"),
    path("sources/<int:source_id>/mappings/", views.mapping_add, name="mapping-add"),
    path("sources/<int:source_id>/mappings/import/", views.mapping_import, name="mapping-import"),
    path("sources/<int:source_id>/mappings/<int:mapping_id>/delete/", views.mapping_delete, name="mapping-delete"),
    path("products/", views.product_list, name="product-list"),
    path("products/new/", views.product_create, name="product-create"),
    path("products/import/", views.product_import, name="product-import"),
    path("products/from-order-sku/", views.product_from_order_sku, name="product-from-order-sku"),
    path("products/<int:product_id>/", views.product_detail, name="product-detail"),
    path("products/<int:product_id>/listing/", views.product_listing, name="product-listing"),
    path("channels/", views.channel_stock, name="channels"),
    path("channels/<int:channel_id>/", views.channel_stock_update, name="channel-stock-update"),
    path("channels/<int:channel_id>/push-all/", views.channel_push_all, name="channel-push-all"),
    path("webhooks/<int:source_id>/", views.webhook_receiver, name="webhook"),
]
