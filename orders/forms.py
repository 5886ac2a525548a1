"""Input validation for the order pages. Forms only parse and validate; views call services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from channels.models import Channel

from .actions import CANCEL_REASONS, ShipLine
from .models import OrderLine, OrderStatus, PaymentStatus
from .selectors import OrderFilters

MAX_BULK_ORDERS = 1000
MAX_BULK_SHIP = 200  # each order is its own transaction and push; a page holds 50
MAX_LABEL_BYTES = 10 * 1024 * 1024
# Suggestions for the carrier inputs; any name is accepted (Shopify matches known ones).
COMMON_CARRIERS = (
    "UPS",
    "USPS",
    "FedEx",
    "DHL Express",
    "DHL eCommerce",
    "Canada Post",
    "Royal Mail",
    "Australia Post",
    "Amazon Logistics",
    "DPD",
    "GLS",
    "PostNL",
    "Purolator",
    "OnTrac",
)
SHIPMENT_FILTERS = (
    ("", "Any shipments"),
    ("pending", "Fulfillment pending"),
    ("prepared", "Prepared"),
    ("requires_sync", "Requires shipment synchronization"),
)
CANCEL_REASON_LABELS = {
    "customer": "Customer changed or cancelled the order",
    "inventory": "Items unavailable",
    "fraud": "Fraudulent order",
    "declined": "Payment declined",
    "staff": "Staff error",
    "other": "Other",
}


class OrderFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Number, customer, email or SKU", "type": "search"}),
    )
    channel = forms.ModelChoiceField(
        queryset=Channel.objects.order_by("name", "id"), required=False, empty_label="All channels"
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *OrderStatus.choices], required=False)
    payment_status = forms.ChoiceField(choices=[("", "Any payment"), *PaymentStatus.choices], required=False)
    errors_only = forms.BooleanField(required=False, label="Errors only")  # not `errors`: Form.errors
    shipments = forms.ChoiceField(choices=SHIPMENT_FILTERS, required=False)

    def to_filters(self) -> OrderFilters:
        """The selector's filters; invalid input is ignored rather than shown as an error."""
        data = self.cleaned_data if self.is_valid() else {}
        channel = data.get("channel")
        return OrderFilters(
            channel=channel.pk if channel else None,
            status=data.get("status", ""),
            payment_status=data.get("payment_status", ""),
            errors=bool(data.get("errors_only")),
            q=data.get("q", ""),
            shipments=data.get("shipments", ""),
        )


class IntegerListField(forms.Field):
    """Repeated `name=<int>` parameters (the row checkboxes)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        try:
            return sorted({int(v) for v in value})
        except (TypeError, ValueError):
            raise ValidationError("Invalid selection.", code="invalid") from None


class BulkResyncForm(forms.Form):
    order_ids = IntegerListField(error_messages={"required": "Select at least one order."})

    def clean_order_ids(self):
        ids = self.cleaned_data["order_ids"]
        if len(ids) > MAX_BULK_ORDERS:
            raise ValidationError(f"Select at most {MAX_BULK_ORDERS} orders at a time.")
        return ids


class BulkShipForm(BulkResyncForm):
    carrier = forms.CharField(max_length=120, required=False)

    def clean_order_ids(self):
        ids = self.cleaned_data["order_ids"]
        if len(ids) > MAX_BULK_SHIP:
            raise ValidationError(f"Mark at most {MAX_BULK_SHIP} orders shipped at a time.")
        return ids

    def clean_carrier(self):
        carrier = self.cleaned_data["carrier"].strip()
        if not carrier:
            raise ValidationError("Say which carrier carries the shipments.")
        return carrier


class CarrierInput(forms.TextInput):
    """A text input suggesting common carriers (the page renders the `carriers` datalist)."""

    def __init__(self, attrs=None):
        super().__init__({"list": "carriers", "autocomplete": "off", "placeholder": "e.g. UPS", **(attrs or {})})


class TrackingForm(forms.Form):
    carrier = forms.CharField(max_length=120, required=False, widget=CarrierInput())
    tracking_number = forms.CharField(max_length=255, required=False)
    tracking_url = forms.URLField(
        max_length=1000,
        required=False,
        assume_scheme="https",
        label="Tracking URL",
        widget=forms.URLInput(attrs={"placeholder": "https://…"}),
    )
    notify_customer = forms.BooleanField(required=False, label="Notify the customer")


class ShipmentTrackingForm(TrackingForm):
    """ "Add tracking" on one shipment: the number is what it is about."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tracking_number"].required = True
        self.fields["tracking_number"].error_messages["required"] = "A tracking number is required."


class ShipForm(TrackingForm):
    """ "Mark as shipped": carrier, tracking, a label, and per line how many units go (the
    quantity left to ship by default, so shipping everything is one click)."""

    field_order = ["carrier", "tracking_number", "tracking_url", "label", "notify_customer"]
    label = forms.FileField(
        required=False,
        label="Shipping label",
        help_text="PDF, or HTML (converted to PDF).",
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.html,.htm,application/pdf,text/html"}),
    )
    # Not an input: where errors about the lines as a whole go (shown under the quantities).
    lines = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, lines: list[tuple[OrderLine, int]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].required = True
        self.fields["carrier"].error_messages["required"] = "Say which carrier carries the shipment."
        self.line_rows = []
        for line, remaining in lines:
            name = f"qty_{line.pk}"
            if remaining > 0:
                self.fields[name] = forms.IntegerField(
                    min_value=0,
                    max_value=remaining,
                    initial=remaining,
                    label=line.sku or line.title,
                    error_messages={
                        "max_value": f"Only {remaining} left to ship.",
                        "min_value": "Can't be negative.",
                        "required": "Enter a quantity (0 to leave it out).",
                    },
                    widget=forms.NumberInput(attrs={"class": "qty", "min": 0, "max": remaining}),
                )
            self.line_rows.append((line, remaining, self[name] if remaining > 0 else None))

    def clean_label(self):
        upload = self.cleaned_data.get("label")
        if upload and upload.size > MAX_LABEL_BYTES:
            raise ValidationError(f"A label can be at most {MAX_LABEL_BYTES // (1024 * 1024)} MB.")
        return upload

    def clean(self):
        cleaned = super().clean()
        quantities = [cleaned.get(f"qty_{line.pk}") for line, remaining, _ in self.line_rows if remaining > 0]
        for line, remaining, _ in self.line_rows:
            # A line shipped since the page was rendered has no input any more: say so rather
            # than quietly leaving it out of the shipment.
            if not remaining and str(self.data.get(f"qty_{line.pk}", "0")).strip() not in ("", "0"):
                name = line.sku or line.title
                self.add_error("lines", f"Nothing is left to ship of {name}: it has shipped meanwhile.")
        if all(q is not None for q in quantities) and not any(quantities):
            self.add_error("lines", "A shipment must contain at least one line.")
        return cleaned

    def ship_lines(self) -> list[ShipLine]:
        return [
            ShipLine(order_line_id=line.pk, quantity=self.cleaned_data[f"qty_{line.pk}"])
            for line, remaining, _ in self.line_rows
            if remaining > 0 and self.cleaned_data.get(f"qty_{line.pk}")
        ]

    def label_upload(self) -> tuple[bytes, str, str] | None:
        upload = self.cleaned_data.get("label")
        if not upload:
            return None
        return upload.read(), upload.name, upload.content_type or ""


class CancelForm(forms.Form):
    reason = forms.ChoiceField(choices=[(r, CANCEL_REASON_LABELS.get(r, r.capitalize())) for r in CANCEL_REASONS])
    notify_customer = forms.BooleanField(required=False, label="Notify the customer")
    restock = forms.BooleanField(required=False, initial=True, label="Restock the items")
    staff_note = forms.CharField(
        required=False,
        max_length=500,
        label="Staff note",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Only staff see this"}),
    )


def form_refusal(form: forms.Form, exc) -> None:
    """Show an ActionRefused next to the input it names (or above the form)."""
    if exc.field and exc.field in form.fields:
        form.add_error(exc.field, exc.message)
    else:
        form.add_error(None, exc.message)
