"""API shapes for orders: input serializers that validate query strings and bodies, output
serializers that render. Money is rendered as decimal strings ("59.90"), never floats.

The list serializer reads only the order row and its joined channel: no lines or shipments per
row, so the list costs the same number of queries whatever the page size. What staff may do to
an order (`actions`, from orders.actions.action_availability) costs queries, so only the detail
shows it; the list shows the channel's `capabilities`, which come from its adapter class."""

from __future__ import annotations

import base64
import binascii
import re

from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_field
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from channels.adapters.base import Capability
from channels.models import Channel
from channels.serializers import SyncRunSerializer, capability_codes

from .actions import CANCEL_REASONS, ShipLine, action_availability
from .models import (
    FulfillmentStatus,
    Order,
    OrderStatus,
    OutboundOperation,
    PaymentStatus,
    Shipment,
    SyncEvent,
    SyncState,
)
from .selectors import OrderFilters

MAX_RESYNC_IDS = 5000
MAX_LABEL_BYTES = 10 * 1024 * 1024
SHIPMENT_FILTERS = [
    ("pending", "Fulfillment pending: shipments made here that the channel hasn't accepted yet"),
    ("prepared", "Prepared: shipments the channel has accepted"),
    ("requires_sync", "Requires shipment synchronization: a push failed after every attempt"),
]
_DATA_URL = re.compile(r"^data:[^,]*;base64,", re.IGNORECASE)


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
def known_order_ids(ids: list[int]) -> list[int]:
    """The ids sorted and deduplicated; a validation error naming any that are not orders."""
    ids = sorted(set(ids))
    known = set(Order.objects.filter(pk__in=ids).values_list("pk", flat=True))
    unknown = [i for i in ids if i not in known]
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:20]) + (" …" if len(unknown) > 20 else "")
        raise serializers.ValidationError(f"Unknown order ids: {shown}.")
    return ids


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
    shipments = serializers.ChoiceField(
        choices=SHIPMENT_FILTERS,
        required=False,
        help_text="`pending`: a shipment made here is not yet accepted by the channel (queued or failed); "
        "`prepared`: the channel has accepted a shipment made here; `requires_sync`: a push to the channel "
        "failed after every attempt.",
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
            shipments=data.get("shipments", ""),
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
        return known_order_ids(ids)


# -- action inputs ---------------------------------------------------------------------------
class ShipLineInputSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(min_value=1, help_text="An order line id (from the order's `lines`).")
    quantity = serializers.IntegerField(min_value=0, help_text="Units of that line in this shipment.")


class LabelInputSerializer(serializers.Serializer):
    content_base64 = serializers.CharField(
        trim_whitespace=True,
        help_text="The label, base64-encoded (a `data:...;base64,` prefix is accepted): a PDF, or an HTML "
        "document that is converted to PDF.",
    )
    filename = serializers.CharField(max_length=200)
    content_type = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, help_text="e.g. application/pdf or text/html."
    )

    def validate_content_base64(self, value: str) -> bytes:
        text = "".join(_DATA_URL.sub("", value).split())
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError("Not valid base64.") from None
        if not content:
            raise serializers.ValidationError("The label is empty.")
        if len(content) > MAX_LABEL_BYTES:
            raise serializers.ValidationError(f"A label may be at most {MAX_LABEL_BYTES // (1024 * 1024)} MB.")
        return content


class ShipInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=120)
    tracking_number = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    tracking_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=1000)
    notify_customer = serializers.BooleanField(required=False, default=False)
    lines = ShipLineInputSerializer(
        many=True,
        required=False,
        help_text="Which lines and how many of each; omit to ship everything not yet shipped.",
    )
    label = LabelInputSerializer(required=False, help_text="A shipping label to store with the shipment.")

    def service_kwargs(self) -> dict:
        """The validated body as order_ship's keyword arguments."""
        data = dict(self.validated_data)
        if "lines" in data:
            data["lines"] = [
                ShipLine(order_line_id=item["line_id"], quantity=item["quantity"]) for item in data["lines"]
            ]
        label = data.pop("label", None)
        if label is not None:
            data["label"] = (label["content_base64"], label["filename"], label["content_type"])
        return data


class TrackingInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=120, help_text="Omit to keep the shipment's carrier."
    )
    tracking_number = serializers.CharField(max_length=255)
    tracking_url = serializers.URLField(required=False, allow_blank=True, default="", max_length=1000)
    notify_customer = serializers.BooleanField(required=False, default=False)


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=[(r, r) for r in CANCEL_REASONS])
    notify_customer = serializers.BooleanField(required=False, default=False)
    restock = serializers.BooleanField(required=False, default=True)
    staff_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class ShipmentsSyncInputSerializer(serializers.Serializer):
    order_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=MAX_RESYNC_IDS,
        help_text="Only these orders' shipments; omit for every shipment the channels haven't accepted.",
    )

    def validate_order_ids(self, ids: list[int]) -> list[int]:
        return known_order_ids(ids)


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
    fulfillment_status = serializers.ChoiceField(choices=FulfillmentStatus.choices)
    requires_shipment_sync = serializers.BooleanField(
        help_text="A push to the channel (shipment, tracking, cancellation) failed after every attempt."
    )
    sync_state = serializers.ChoiceField(choices=SyncState.choices)
    currency = serializers.CharField()
    total = _money()
    customer_name = serializers.CharField()
    customer_email = serializers.CharField()
    placed_at = serializers.DateTimeField(allow_null=True)
    source_updated_at = serializers.DateTimeField(allow_null=True)
    last_synced_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    capabilities = serializers.SerializerMethodField(help_text="What the order's channel supports through its API.")

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(Capability))))
    def get_capabilities(self, order: Order) -> list[str]:
        return capability_codes(order.channel.kind)


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


class OperationSerializer(serializers.Serializer):
    """A push to the channel: what, where it stands, how many attempts, the last error."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=OutboundOperation.Kind.choices)
    state = serializers.ChoiceField(choices=OutboundOperation.State.choices)
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class ShipmentLineSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(source="order_line_id")
    sku = serializers.CharField(source="order_line.sku")
    title = serializers.CharField(source="order_line.title")
    quantity = serializers.IntegerField()


class ShipmentSerializer(serializers.Serializer):
    """A shipment, read from the channel (`source` channel) or made here and pushed (`fenicia`).
    Render it with `lines` (and their order lines) and `operations` prefetched."""

    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(choices=Shipment.Source.choices)
    push_state = serializers.ChoiceField(
        choices=[
            (value, label if value else "Not pushed (read from the channel)")
            for value, label in Shipment.PushState.choices
        ],
        help_text="For shipments made here: `pending` (not yet accepted by the channel), `accepted` (prepared), "
        "`failed` (requires shipment synchronization). Empty for shipments read from the channel.",
    )
    status = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    tracking_url = serializers.CharField()
    notify_customer = serializers.BooleanField()
    shipped_at = serializers.DateTimeField(allow_null=True)
    lines = ShipmentLineSerializer(many=True, help_text="Empty for shipments read from the channel.")
    label_url = serializers.SerializerMethodField(help_text="Where to download the shipping label (PDF), if any.")
    latest_operation = serializers.SerializerMethodField(help_text="The latest push of this shipment, if any.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_label_url(self, shipment: Shipment) -> str | None:
        if not shipment.label:
            return None
        return reverse("api-shipment-label", args=[shipment.order_id, shipment.pk])

    @extend_schema_field(OperationSerializer(allow_null=True))
    def get_latest_operation(self, shipment: Shipment) -> dict | None:
        operation = next(iter(shipment.operations.all()), None)  # newest first (Meta.ordering)
        return OperationSerializer(operation).data if operation is not None else None


class ActionAvailabilitySerializer(serializers.Serializer):
    available = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why the action can't be taken; empty when it can.")


class OrderActionsSerializer(serializers.Serializer):
    ship = ActionAvailabilitySerializer()
    tracking = ActionAvailabilitySerializer()
    cancel = ActionAvailabilitySerializer()


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
    actions = serializers.SerializerMethodField(
        help_text="Whether each action can be taken now and, if not, why (the channel's capabilities and "
        "the order's state)."
    )
    raw = serializers.JSONField(required=False, help_text="The channel's payload; only with ?include=raw.")

    @extend_schema_field(OrderActionsSerializer)
    def get_actions(self, order: Order) -> dict:
        return {
            action: {"available": not reason, "reason": reason} for action, reason in action_availability(order).items()
        }

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


class ActionAcceptedSerializer(serializers.Serializer):
    order = serializers.IntegerField()
    detail = serializers.CharField()
    operation = OperationSerializer(
        allow_null=True, help_text="The push queued for the channel; null when nothing new had to be pushed."
    )
    timeline = serializers.CharField(help_text="Where the outcome will appear.")


class TrackingAcceptedSerializer(ActionAcceptedSerializer):
    shipment = ShipmentSerializer()


class ShipmentSyncAcceptedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Operations queued again for the channel.")
    detail = serializers.CharField()
    shipment = ShipmentSerializer()
    timeline = serializers.CharField(help_text="Where the outcome will appear.")


class ShipmentsSyncAcceptedSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Operations queued again for the channels, in runs of at most 100.")
    detail = serializers.CharField()
