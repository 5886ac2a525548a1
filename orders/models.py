"""Orders as Fenicia holds them: normalised, one row per (channel, external id)."""

from django.conf import settings
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


class FulfillmentStatus(models.TextChoices):
    UNFULFILLED = "unfulfilled", "Unfulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled", "Partially fulfilled"
    FULFILLED = "fulfilled", "Fulfilled"


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
    fulfillment_status = models.CharField(
        max_length=20, choices=FulfillmentStatus.choices, default=FulfillmentStatus.UNFULFILLED
    )
    # A push to the channel (shipment, tracking, cancel) failed after every attempt: staff must act.
    requires_shipment_sync = models.BooleanField(default=False)
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
            models.Index(
                fields=["-placed_at"], condition=models.Q(requires_shipment_sync=True), name="order_needs_push_idx"
            ),
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
        constraints = [models.UniqueConstraint(fields=["order", "external_id"], name="order_line_unique_external")]
        indexes = [models.Index(fields=["sku"], name="order_line_sku_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.title}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class Shipment(models.Model):
    """A fulfilment: read from the channel, or created here by staff and pushed to the channel."""

    class Source(models.TextChoices):
        CHANNEL = "channel", "Channel"
        FENICIA = "fenicia", "Fenicia"

    class PushState(models.TextChoices):
        """Where a shipment created here stands at the channel. The order list's "Fulfillment
        pending" filter is PENDING or FAILED; "Prepared" is ACCEPTED."""

        NONE = "", "—"
        PENDING = "pending", "Fulfillment pending"
        ACCEPTED = "accepted", "Prepared"
        FAILED = "failed", "Requires shipment synchronization"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="shipments")
    external_id = models.CharField(max_length=255, null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CHANNEL)
    push_state = models.CharField(max_length=10, choices=PushState.choices, default=PushState.NONE, blank=True)
    status = models.CharField(max_length=40, blank=True)
    carrier = models.CharField(max_length=120, blank=True)
    tracking_number = models.CharField(max_length=255, blank=True)
    tracking_url = models.URLField(max_length=1000, blank=True)
    notify_customer = models.BooleanField(default=False)
    label = models.FileField(upload_to="labels/%Y/%m/", blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "external_id"], name="shipment_unique_external"),
        ]
        indexes = [models.Index(fields=["push_state", "order"], name="shipment_push_state_idx")]

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}".strip() or f"Shipment {self.pk}"


class ShipmentLine(models.Model):
    """Which lines, and how many of each, a shipment created here carries."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="shipment_lines")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shipment", "order_line"], name="shipment_line_unique")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.order_line.sku}"


class OutboundOperation(models.Model):
    """A staff action that must reach the channel: recorded in the same transaction as the
    change to our order, pushed by a task, every attempt kept (design.md invariant 6)."""

    class Kind(models.TextChoices):
        SHIP = "ship", "Mark shipped"
        TRACKING = "tracking", "Add tracking"
        CANCEL = "cancel", "Cancel"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "Pushing"
        SUCCEEDED = "succeeded", "Accepted by the channel"
        FAILED = "failed", "Failed"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="operations")
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    payload = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "created_at"], name="operation_state_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"


class PushAttempt(models.Model):
    """One call to the channel for an operation: created before the call, completed after."""

    operation = models.ForeignKey(OutboundOperation, on_delete=models.CASCADE, related_name="push_attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    error_class = models.CharField(max_length=60, blank=True)
    message = models.TextField(blank=True)
    waited_s = models.FloatField(null=True, blank=True, help_text="Wait before the next attempt")

    class Meta:
        ordering = ["operation", "number"]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.operation_id}"


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
        ACTION = "action", "Staff action"
        PUSH = "push", "Push to channel"
        LABEL = "label", "Shipping label"

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
