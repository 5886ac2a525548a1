"""API shapes for orders: input serializers that validate query strings and bodies, output
serializers that render. Money is rendered as decimal strings ("59.90"), never floats.

The list serializer reads only the order row and its joined channel: no lines or shipments per
row, so the list costs the same number of queries whatever the page size."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from rest_framework import serializers

from channels.models import Channel
from channels.serializers import SyncRunSerializer

from .models import Order, OrderStatus, PaymentStatus, SyncEvent, SyncState
from .selectors import OrderFilters

MAX_RESYNC_IDS = 5000


def _money():
    return serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)


class OrderStatusField(serializers.ChoiceField):
    """An order's status, documented once as the `OrderStatusEnum` schema component.

    The list and the detail both show it, and "status" also names channel and run states;
    left inline, drf-spectacular cannot name this enum without a warning (the alternative is
    an ENUM_NAME_OVERRIDES entry in settings)."""

    def __init__(self, **kwargs):
        super().__init__(choices=OrderStatus.choices, **kwargs)


class OrderStatusFieldExtension(OpenApiSerializerFieldExtension):
    target_class = OrderStatusField

    def get_name(self) -> str:
        return "OrderStatusEnum"

    def map_serializer_field(self, auto_schema, direction):
        schema = build_choice_field(self.target)
        schema.pop("x-spec-enum-id", None)
        return schema


# -- inputs ----------------------------------------------------------------------------------
class OrderListFilterSerializer(serializers.Serializer):
    channel = serializers.PrimaryKeyRelatedField(
        queryset=Channel.objects.only("id"), required=False, help_text="Only orders of this channel (id)."
    )
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    payment_status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    updated_since = serializers.DateTimeField(
        required=False, help_text="Only orders changed in Fenicia at or after this moment (ISO 8601)."
    )
    errors = serializers.BooleanField(
        required=False, default=False, help_text="Only orders whose last sync failed or that the channel no longer has."
    )
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Search: order number, external id, customer name or e-mail, exact SKU.",
    )

    def to_filters(self) -> OrderFilters:
        data = self.validated_data
        channel = data.get("channel")
        return OrderFilters(
            channel=channel.pk if channel else None,
            status=data.get("status", ""),
            payment_status=data.get("payment_status", ""),
            errors=data.get("errors", False),
            q=data.get("q", ""),
            updated_since=data.get("updated_since"),
        )


class OrderDetailQuerySerializer(serializers.Serializer):
    include = serializers.ChoiceField(
        choices=["raw"], required=False, help_text="`raw` adds the channel's payload as last received."
    )


class OrderResyncInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        allow_empty=False,
        max_length=MAX_RESYNC_IDS,
        help_text="Order ids to re-read from their channels.",
    )

    def validate_ids(self, ids: list[int]) -> list[int]:
        ids = sorted(set(ids))
        known = set(Order.objects.filter(pk__in=ids).values_list("pk", flat=True))
        unknown = [i for i in ids if i not in known]
        if unknown:
            shown = ", ".join(str(i) for i in unknown[:20]) + (" …" if len(unknown) > 20 else "")
            raise serializers.ValidationError(f"Unknown order ids: {shown}.")
        return ids


# -- outputs ---------------------------------------------------------------------------------
class OrderListSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    channel = serializers.IntegerField(source="channel_id")
    channel_name = serializers.CharField(source="channel.name")
    channel_kind = serializers.CharField(source="channel.kind")
    external_id = serializers.CharField()
    number = serializers.CharField()
    status = OrderStatusField()
    payment_status = serializers.ChoiceField(choices=PaymentStatus.choices)
    channel_status = serializers.CharField(help_text="The channel's own words for the order's state.")
    sync_state = serializers.ChoiceField(choices=SyncState.choices)
    currency = serializers.CharField()
    total = _money()
    customer_name = serializers.CharField()
    customer_email = serializers.CharField()
    placed_at = serializers.DateTimeField(allow_null=True)
    source_updated_at = serializers.DateTimeField(allow_null=True)
    last_synced_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()


class OrderLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    position = serializers.IntegerField()
    sku = serializers.CharField()
    title = serializers.CharField()
    variant = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = _money()
    line_total = _money()


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField()
    shipped_at = serializers.DateTimeField(allow_null=True)


class CustomerSerializer(serializers.Serializer):
    name = serializers.CharField(source="customer_name")
    email = serializers.CharField(source="customer_email")
    phone = serializers.CharField(source="customer_phone")


class AddressSerializer(serializers.Serializer):
    """What adapters put in an address; keys a channel didn't send are absent."""

    name = serializers.CharField(required=False)
    company = serializers.CharField(required=False)
    address1 = serializers.CharField(required=False)
    address2 = serializers.CharField(required=False)
    city = serializers.CharField(required=False)
    province = serializers.CharField(required=False)
    province_code = serializers.CharField(required=False)
    zip = serializers.CharField(required=False)
    country = serializers.CharField(required=False)
    country_code = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)

    def to_representation(self, instance):
        return dict(instance or {})  # stored as JSON already; keep whatever the adapter kept


class OrderDetailSerializer(OrderListSerializer):
    subtotal = _money()
    shipping_total = _money()
    tax_total = _money()
    discount_total = _money()
    customer = CustomerSerializer(source="*")
    shipping_address = AddressSerializer()
    billing_address = AddressSerializer()
    notes = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    sync_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    lines = OrderLineSerializer(many=True)
    shipments = ShipmentSerializer(many=True)
    raw = serializers.JSONField(required=False, help_text="The channel's payload; only with ?include=raw.")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("include_raw"):
            data.pop("raw", None)
        return data


class SyncEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=SyncEvent.Kind.choices)
    outcome = serializers.ChoiceField(choices=SyncEvent.Outcome.choices)
    source = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()
    run = serializers.IntegerField(source="run_id", allow_null=True)
    created_at = serializers.DateTimeField()


class OrderSyncAcceptedSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    detail = serializers.CharField()
    timeline = serializers.CharField(help_text="Where the outcome will appear.")


class RunsAcceptedSerializer(serializers.Serializer):
    runs = SyncRunSerializer(many=True, help_text="One run per channel; poll GET /api/runs/{id}/ for each.")
