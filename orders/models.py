"""Orders as Fenicia holds them: normalised, one row per (channel, external id)."""

from django.db import models
from django.urls import reverse

from channels.models import Channel, SyncRun


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


class SyncState(models.TextChoices):
    OK = "ok", "In sync"
    NOT_FOUND = "not_found", "Not found at source"
    ERROR = "error", "Sync error"


MONEY = {"max_digits": 14, "decimal_places": 2}


class Order(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=255)
    number = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    # The channel's own words for the state, kept so mapping decisions can be reviewed.
    channel_status = models.CharField(max_length=200, blank=True)
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    currency = models.CharField(max_length=3, blank=True)
    subtotal = models.DecimalField(**MONEY, default=0)
    shipping_total = models.DecimalField(**MONEY, default=0)
    tax_total = models.DecimalField(**MONEY, default=0)
    discount_total = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY, default=0)
    customer_name = models.CharField(max_length=255, blank=True)
    customer_email = models.CharField(max_length=255, blank=True)
    customer_phone = models.CharField(max_length=64, blank=True)
    shipping_address = models.JSONField(default=dict, blank=True)
    billing_address = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    placed_at = models.DateTimeField(null=True, blank=True)
    # The channel's last-modified time of the data we hold: the guard against going backwards.
    source_updated_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    sync_state = models.CharField(max_length=12, choices=SyncState.choices, default=SyncState.OK)
    sync_error = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_unique_per_channel"),
        ]
        # Each index serves one filter of the order list, sorted the way the list sorts.
        indexes = [
            models.Index(fields=["-placed_at", "-id"], name="order_placed_idx"),
            models.Index(fields=["channel", "-placed_at"], name="order_channel_placed_idx"),
            models.Index(fields=["status", "-placed_at"], name="order_status_placed_idx"),
            models.Index(fields=["payment_status", "-placed_at"], name="order_payment_placed_idx"),
            models.Index(fields=["sync_state", "-placed_at"], name="order_syncstate_placed_idx"),
            models.Index(fields=["number"], name="order_number_idx"),
            models.Index(fields=["customer_email"], name="order_email_idx"),
            models.Index(fields=["-updated_at"], name="order_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.number or self.external_id

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.pk])


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    external_id = models.CharField(max_length=255, blank=True)
    position = models.PositiveIntegerField(default=0)
    sku = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    variant = models.CharField(max_length=255, blank=True)
    quantity = models.IntegerField(default=1)
    unit_price = models.DecimalField(**MONEY, default=0)

    class Meta:
        ordering = ["order", "position", "id"]
        indexes = [models.Index(fields=["sku"], name="order_line_sku_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.title}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class Shipment(models.Model):
    """A fulfilment: read from the channel, or (with the actions issue) created here and pushed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    external_id = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=40, blank=True)
    carrier = models.CharField(max_length=120, blank=True)
    tracking_number = models.CharField(max_length=255, blank=True)
    tracking_url = models.URLField(max_length=1000, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "external_id"], name="shipment_unique_external"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}".strip() or f"Shipment {self.pk}"


class SyncEvent(models.Model):
    """The timeline: every import, update, refusal and failure, on an order or a channel."""

    class Kind(models.TextChoices):
        IMPORTED = "imported", "Imported"
        UPDATED = "updated", "Updated"
        STALE_IGNORED = "stale_ignored", "Older update ignored"
        SYNCED = "synced", "Synced"
        NOT_FOUND = "not_found", "Not found at source"
        WEBHOOK = "webhook", "Webhook"
        POLL = "poll", "Poll"
        RUN = "run", "Sync run"
        ERROR = "error", "Error"
        AUTH = "auth", "Authorisation"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        SKIPPED = "skipped", "Skipped"
        INFO = "info", "Info"

    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    source = models.CharField(max_length=40, blank=True, help_text="webhook, poll, manual, import, resync, api")
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["order", "-created_at"], name="sync_event_order_idx"),
            models.Index(fields=["channel", "-created_at"], name="sync_event_channel_idx"),
        ]

    def __str__(self) -> str:
        return self.message
