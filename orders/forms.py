"""Input validation for the order pages. Forms only parse and validate; views call services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from channels.models import Channel

from .models import OrderStatus, PaymentStatus
from .selectors import OrderFilters

MAX_BULK_ORDERS = 1000


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
