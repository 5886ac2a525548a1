"""API shapes for inventory: explicit input serializers that only validate, output serializers
that only render. Secrets are write-only: outputs say whether one is set, masked at most."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fenicia.crypto import mask

from .models import (
    DataFormat,
    Frequency,
    InventorySource,
    MappingMode,
    Pagination,
    RunStatus,
    RunTrigger,
    SourceKind,
    SourceStatus,
    WebhookAuth,
)


class SourceCreateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    frequency_minutes = serializers.ChoiceField(choices=Frequency.choices, default=Frequency.MANUAL)
    mapping_mode = serializers.ChoiceField(choices=MappingMode.choices, default=MappingMode.SKU)
    data_format = serializers.ChoiceField(choices=DataFormat.choices, default=DataFormat.CSV)
    sku_field = serializers.CharField(max_length=100, default="sku")
    quantity_field = serializers.CharField(max_length=100, default="quantity")
    json_list_path = serializers.CharField(max_length=200, default="", allow_blank=True)
    delimiter = serializers.CharField(max_length=2, default=",", trim_whitespace=False)
    encoding = serializers.CharField(max_length=40, default="utf-8")
    url = serializers.URLField(max_length=1000, default="", allow_blank=True)
    auth_header = serializers.CharField(max_length=100, default="Authorization", allow_blank=True)
    auth_token = serializers.CharField(default="", allow_blank=True, write_only=True)
    pagination = serializers.ChoiceField(choices=Pagination.choices, default=Pagination.NONE)
    next_link_path = serializers.CharField(max_length=200, default="next", allow_blank=True)
    page_param = serializers.CharField(max_length=50, default="page", allow_blank=True)
    host = serializers.CharField(max_length=255, default="", allow_blank=True)
    port = serializers.IntegerField(min_value=1, max_value=65535, required=False, allow_null=True, default=None)
    username = serializers.CharField(max_length=255, default="", allow_blank=True)
    password = serializers.CharField(default="", allow_blank=True, write_only=True)
    private_key = serializers.CharField(default="", allow_blank=True, write_only=True, trim_whitespace=False)
    remote_path = serializers.CharField(max_length=500, default="", allow_blank=True)
    host_key = serializers.CharField(default="", allow_blank=True)
    webhook_auth = serializers.ChoiceField(choices=WebhookAuth.choices, default=WebhookAuth.HMAC)
    webhook_header = serializers.CharField(max_length=100, default="X-Fenicia-Signature", allow_blank=True)
    webhook_secret = serializers.CharField(default="", allow_blank=True, write_only=True)

    def validate(self, attrs):
        kind = attrs["kind"]
        errors = {}
        if kind == SourceKind.REST_API and not attrs.get("url"):
            errors["url"] = "A REST source needs the endpoint URL."
        if kind in (SourceKind.FTP, SourceKind.SFTP):
            if not attrs.get("host"):
                errors["host"] = "A file source needs the server's host name."
            if not attrs.get("remote_path"):
                errors["remote_path"] = "Give the file's path or a glob."
        if kind == SourceKind.WEBHOOK and not attrs.get("webhook_secret"):
            errors["webhook_secret"] = "A webhook source needs a secret: unsigned pushes are refused."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class SourceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    status = serializers.ChoiceField(choices=SourceStatus.choices)
    frequency_minutes = serializers.IntegerField()
    mapping_mode = serializers.ChoiceField(choices=MappingMode.choices)
    data_format = serializers.ChoiceField(choices=DataFormat.choices)
    sku_field = serializers.CharField()
    quantity_field = serializers.CharField()
    json_list_path = serializers.CharField()
    delimiter = serializers.CharField()
    encoding = serializers.CharField()
    url = serializers.CharField()
    auth_header = serializers.CharField()
    auth_token_masked = serializers.SerializerMethodField()
    pagination = serializers.ChoiceField(choices=Pagination.choices)
    host = serializers.CharField()
    port = serializers.IntegerField(allow_null=True)
    username = serializers.CharField()
    has_password = serializers.SerializerMethodField()
    remote_path = serializers.CharField()
    host_key = serializers.CharField()
    webhook_url = serializers.SerializerMethodField(help_text="Where a webhook source pushes its stock.")
    webhook_auth = serializers.ChoiceField(choices=WebhookAuth.choices)
    webhook_header = serializers.CharField()
    has_webhook_secret = serializers.SerializerMethodField()
    last_sync_at = serializers.DateTimeField(allow_null=True)
    last_successful_sync_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    consecutive_failures = serializers.IntegerField()
    next_retry_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_auth_token_masked(self, source: InventorySource) -> str:
        return mask(source.auth_token)

    def get_has_password(self, source: InventorySource) -> bool:
        return bool(source.password or source.private_key)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_webhook_url(self, source: InventorySource) -> str | None:
        return source.webhook_url if source.kind == SourceKind.WEBHOOK else None

    def get_has_webhook_secret(self, source: InventorySource) -> bool:
        return bool(source.webhook_secret)


class InvalidRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    reason = serializers.CharField()


class UnmappedSerializer(serializers.Serializer):
    sku = serializers.CharField()
    line = serializers.IntegerField()
    quantity = serializers.IntegerField(allow_null=True)


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.IntegerField(source="source_id")
    status = serializers.ChoiceField(choices=RunStatus.choices)
    trigger = serializers.ChoiceField(choices=RunTrigger.choices)
    is_active = serializers.BooleanField(help_text="Pending or syncing: poll this run until it is false.")
    attempt = serializers.IntegerField(help_text="Automatic retry number (1-3); 0 for a first attempt.")
    records_processed = serializers.IntegerField()
    products_updated = serializers.IntegerField()
    unmapped_count = serializers.IntegerField()
    unmapped_skus = UnmappedSerializer(many=True, help_text="The first 500 unmapped codes.")
    invalid_count = serializers.IntegerField()
    invalid_rows = InvalidRowSerializer(many=True, help_text="The first 500 invalid rows, by line.")
    file_name = serializers.CharField()
    file_checksum = serializers.CharField()
    message = serializers.CharField()
    error = serializers.CharField()
    duration_seconds = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_duration_seconds(self, run) -> float | None:
        return round(run.duration.total_seconds(), 3) if run.duration else None


class StockLevelSerializer(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField(source="product.sku")
    source = serializers.IntegerField(source="source_id")
    source_name = serializers.CharField(source="source.name")
    quantity = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ProductLevelSerializer(serializers.Serializer):
    source = serializers.IntegerField(source="source_id")
    quantity = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ProductSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    barcode = serializers.CharField()
    available = serializers.IntegerField(help_text="The sum of the product's stock levels.")
    available_changed_at = serializers.DateTimeField(allow_null=True)
    stock_levels = ProductLevelSerializer(many=True)


class ProductCreateInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, default="", allow_blank=True)
    barcode = serializers.CharField(max_length=64, default="", allow_blank=True)

    def validate_sku(self, value: str) -> str:
        from .models import Product

        value = value.strip()
        if Product.objects.filter(sku=value).exists():
            raise serializers.ValidationError("A product with this SKU already exists.")
        return value


class ProductFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, default="", allow_blank=True, help_text="SKU, name or barcode.")


class StockLevelFilterSerializer(serializers.Serializer):
    product = serializers.IntegerField(required=False, min_value=1)
    source = serializers.IntegerField(required=False, min_value=1)
