"""Channel connections, the webhook inbox and sync runs.

`channels` is the lowest app: it knows nothing about orders. Work that orders must do (drain
the inbox, run a sync step) is enqueued by dotted task name.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse

from fenicia.crypto import EncryptedJSONField, EncryptedTextField


class ChannelKind(models.TextChoices):
    SHOPIFY = "shopify", "Shopify"
    AMAZON = "amazon", "Amazon"
    MERCADOLIBRE = "mercadolibre", "MercadoLibre"
    WALMART = "walmart", "Walmart"
    TIKTOK = "tiktok", "TikTok Shop"


class ChannelStatus(models.TextChoices):
    """The four states of design.md invariant 7. Only a person sets DISABLED."""

    CONNECTED = "connected", "Connected"
    ERROR = "error", "Error"
    NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
    DISABLED = "disabled", "Disabled"


class Channel(models.Model):
    kind = models.CharField(max_length=20, choices=ChannelKind.choices)
    name = models.CharField(max_length=120)
    # Adapter-specific: shop domain, access token, refresh token and its expiry, API version...
    credentials = EncryptedJSONField(default=dict, blank=True)
    webhook_secret = EncryptedTextField(blank=True, default="")
    api_base_url = models.URLField(blank=True, help_text="Overrides the channel's API host (sandbox, proxies).")
    status = models.CharField(max_length=20, choices=ChannelStatus.choices, default=ChannelStatus.CONNECTED)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    last_successful_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    poll_interval_minutes = models.PositiveIntegerField(default=15)
    # Upper bound of the last fully committed poll window; the next window starts an overlap before it.
    sync_cursor = models.DateTimeField(null=True, blank=True)
    # Per-channel overrides of the adapter's status vocabulary ("metadata mappings").
    status_mappings = models.JSONField(default=dict, blank=True)
    # Set by the webhook receiver when it enqueues an inbox drain, cleared by the drain:
    # one task serves a burst of webhooks instead of one task per delivery.
    inbox_drain_pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def get_absolute_url(self) -> str:
        return reverse("channels:detail", args=[self.pk])

    @property
    def webhook_path(self) -> str:
        return reverse("webhook", args=[self.kind, self.pk])

    @property
    def webhook_url(self) -> str:
        return settings.FENICIA_PUBLIC_URL.rstrip("/") + self.webhook_path

    @property
    def is_active(self) -> bool:
        return self.status != ChannelStatus.DISABLED

    def poll_interval(self) -> timedelta:
        return timedelta(minutes=self.poll_interval_minutes)


class WebhookEvent(models.Model):
    """The inbox: every verified delivery, stored raw before anything parses it (invariant 4)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="webhook_events")
    delivery_id = models.CharField(max_length=255)
    topic = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    order_external_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "delivery_id"], name="webhook_event_unique_delivery"),
        ]
        indexes = [models.Index(fields=["channel", "status", "id"], name="webhook_event_queue_idx")]

    def __str__(self) -> str:
        return f"{self.topic} {self.delivery_id}"

    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class SyncRun(models.Model):
    """One poll, import or re-sync of a channel, carried out in steps of at most
    FENICIA_SYNC_BATCH_SIZE orders. A poll run is also the record of the window it covered
    (start, end, pages, orders seen), so gaps in coverage can be found and back-filled."""

    class Kind(models.TextChoices):
        POLL = "poll", "Scheduled poll"
        IMPORT = "import", "Sync orders"
        RESYNC = "resync", "Re-sync selected orders"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    page_cursor = models.TextField(blank=True)
    external_ids = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    processed = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    stale_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    steps = models.PositiveIntegerField(default=0)
    # Transient failures of the current step; the step is retried later, up to a limit.
    step_retries = models.PositiveIntegerField(default=0)
    # A step holds the lease while it runs, so a redelivered task cannot run the same step twice.
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["channel", "kind", "-created_at"], name="sync_run_channel_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def progress_percent(self) -> int | None:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.total:
            return None
        return min(100, int(self.processed * 100 / self.total))

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
