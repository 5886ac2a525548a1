"""Stock as Fenicia holds it: products, their stock per source, the sources themselves, every
sync run's outcome, and what was pushed to which channel.

`inventory` sits on `channels` (it pushes stock through the adapters) and below `orders`.
Writes live in `services.py`; nothing here has behaviour beyond display helpers.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse

from channels.models import Channel
from fenicia.crypto import EncryptedTextField

# How many unmapped SKUs and invalid rows a run keeps in full; the counts are always exact.
RUN_DETAIL_LIMIT = 500


class Product(models.Model):
    sku = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    barcode = models.CharField(max_length=64, blank=True)
    # The sum of the product's stock levels over every source, kept in step by the services
    # in the same statement batch that changes a level (never by signals or save()).
    available = models.IntegerField(default=0)
    available_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        # A constraint rather than unique=True: same unique index, without the extra
        # varchar_pattern_ops index PostgreSQL would also get (and every stock change rewrite).
        constraints = [models.UniqueConstraint(fields=["sku"], name="product_unique_sku")]

    def __str__(self) -> str:
        return self.sku

    def get_absolute_url(self) -> str:
        return reverse("inventory:product-detail", args=[self.pk])


class SourceKind(models.TextChoices):
    REST_API = "rest_api", "REST API"
    WEBHOOK = "webhook", "Webhook push"
    FTP = "ftp", "FTP file"
    SFTP = "sftp", "SFTP file"


class SourceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCING = "syncing", "Syncing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"


# The pill colours of the shared stylesheet, by our status names.
STATUS_PILL = {
    SourceStatus.PENDING: "pending",
    SourceStatus.SYNCING: "running",
    SourceStatus.COMPLETED: "succeeded",
    SourceStatus.ERROR: "error",
}


class Frequency(models.IntegerChoices):
    MANUAL = 0, "Manual only"
    EVERY_5_MIN = 5, "Every 5 minutes"
    EVERY_15_MIN = 15, "Every 15 minutes"
    HOURLY = 60, "Every hour"


class DataFormat(models.TextChoices):
    JSON = "json", "JSON"
    CSV = "csv", "CSV"


class Pagination(models.TextChoices):
    NONE = "none", "None (one response)"
    NEXT_LINK = "next_link", "Next link (in the body or the Link header)"
    PAGE_NUMBER = "page_number", "Page number parameter"


class WebhookAuth(models.TextChoices):
    TOKEN = "token", "Secret token in a header"
    HMAC = "hmac", "HMAC-SHA256 signature of the body"


class MappingMode(models.TextChoices):
    SKU = "sku", "Same SKU (explicit table entries win)"
    TABLE = "table", "Explicit table only"


class InventorySource(models.Model):
    """Where stock comes from: an ERP/WMS REST endpoint, pushes to our webhook, or a CSV file
    dropped on an FTP/SFTP server. Secrets are encrypted at rest and never rendered in full."""

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=SourceKind.choices)
    frequency_minutes = models.PositiveSmallIntegerField(choices=Frequency.choices, default=Frequency.MANUAL)
    mapping_mode = models.CharField(max_length=10, choices=MappingMode.choices, default=MappingMode.SKU)

    # What a record looks like (REST, webhook and files alike).
    data_format = models.CharField(max_length=4, choices=DataFormat.choices, default=DataFormat.CSV)
    sku_field = models.CharField(
        max_length=100, default="sku", help_text="JSON field or CSV column holding the SKU / external code."
    )
    quantity_field = models.CharField(
        max_length=100, default="quantity", help_text="JSON field or CSV column holding the available quantity."
    )
    json_list_path = models.CharField(
        max_length=200, blank=True, help_text='Dotted path to the list of records, e.g. "data.items"; empty: the body.'
    )
    delimiter = models.CharField(max_length=2, default=",")
    encoding = models.CharField(max_length=40, default="utf-8")

    # REST API
    url = models.URLField(max_length=1000, blank=True)
    auth_header = models.CharField(max_length=100, blank=True, default="Authorization")
    auth_token = EncryptedTextField(blank=True, default="")
    pagination = models.CharField(max_length=12, choices=Pagination.choices, default=Pagination.NONE)
    next_link_path = models.CharField(
        max_length=200, blank=True, default="next", help_text="Dotted path to the next page's URL in a JSON body."
    )
    page_param = models.CharField(max_length=50, blank=True, default="page")

    # FTP / SFTP
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    username = models.CharField(max_length=255, blank=True)
    password = EncryptedTextField(blank=True, default="")
    private_key = EncryptedTextField(blank=True, default="", help_text="SFTP only: a private key (PEM/OpenSSH).")
    remote_path = models.CharField(
        max_length=500, blank=True, help_text="A file path, or a glob such as /outbound/stock_*.csv (newest wins)."
    )
    # SFTP host key, "ssh-ed25519 AAAA...": pinned on first connection, checked on every later one.
    host_key = models.TextField(blank=True)

    # Webhook push
    webhook_auth = models.CharField(max_length=5, choices=WebhookAuth.choices, default=WebhookAuth.HMAC)
    webhook_header = models.CharField(max_length=100, blank=True, default="X-Fenicia-Signature")
    webhook_secret = EncryptedTextField(blank=True, default="")

    # State
    status = models.CharField(max_length=10, choices=SourceStatus.choices, default=SourceStatus.PENDING)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_successful_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Failed runs in a row; the retry policy (5 min, 15 min, 1 h) reads it.
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("inventory:source-detail", args=[self.pk])

    @property
    def status_pill(self) -> str:
        return STATUS_PILL.get(self.status, self.status)

    @property
    def is_file_source(self) -> bool:
        return self.kind in (SourceKind.FTP, SourceKind.SFTP)

    @property
    def is_pull_source(self) -> bool:
        return self.kind != SourceKind.WEBHOOK

    @property
    def webhook_path(self) -> str:
        return reverse("inventory:webhook", args=[self.pk])

    @property
    def webhook_url(self) -> str:
        return settings.FENICIA_PUBLIC_URL.rstrip("/") + self.webhook_path

    @property
    def default_port(self) -> int:
        return {SourceKind.FTP: 21, SourceKind.SFTP: 22}.get(self.kind, 0)


class StockLevel(models.Model):
    # No single-column indexes: (product, source) and (source, product) below serve both
    # lookups, and every index is one more write per row of a 100,000-row import.
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_levels", db_index=False)
    source = models.ForeignKey(InventorySource, on_delete=models.CASCADE, related_name="stock_levels", db_index=False)
    quantity = models.IntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["product", "source"]
        constraints = [
            models.UniqueConstraint(fields=["product", "source"], name="stock_level_unique_per_source"),
        ]
        indexes = [models.Index(fields=["source", "product"], name="stock_level_source_idx")]

    def __str__(self) -> str:
        return f"{self.product_id}@{self.source_id}: {self.quantity}"


class SkuMapping(models.Model):
    """The source's own code for one of our products, when it isn't our SKU."""

    source = models.ForeignKey(InventorySource, on_delete=models.CASCADE, related_name="mappings", db_index=False)
    external_code = models.CharField(max_length=255)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="mappings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["source", "external_code"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_code"], name="sku_mapping_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.external_code} → {self.product_id}"


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SYNCING = "syncing", "Syncing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Sync now"
    SCHEDULE = "schedule", "Schedule"
    RETRY = "retry", "Automatic retry"
    WEBHOOK = "webhook", "Webhook push"
    COMMAND = "command", "Command line"
    API = "api", "API"


class InventoryDelivery(models.Model):
    """A verified webhook push, stored raw before anything parses it (design.md invariant 4)."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(InventorySource, on_delete=models.CASCADE, related_name="deliveries")
    body = models.BinaryField()
    content_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    checksum = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Delivery {self.pk} to {self.source_id}"


class InventorySyncRun(models.Model):
    """One sync of a source: what was read, what changed, and what was wrong with the input."""

    source = models.ForeignKey(InventorySource, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.MANUAL)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    delivery = models.ForeignKey(InventoryDelivery, null=True, blank=True, on_delete=models.SET_NULL)
    # Which automatic retry this is (1..3); 0 for first attempts.
    attempt = models.PositiveSmallIntegerField(default=0)
    records_processed = models.PositiveIntegerField(default=0)
    products_updated = models.PositiveIntegerField(default=0)
    unmapped_count = models.PositiveIntegerField(default=0)
    unmapped_skus = models.JSONField(default=list, blank=True)  # the first RUN_DETAIL_LIMIT codes
    invalid_count = models.PositiveIntegerField(default=0)
    invalid_rows = models.JSONField(default=list, blank=True)  # [{"line": n, "reason": "..."}]
    file_name = models.CharField(max_length=500, blank=True)
    file_checksum = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)  # e.g. "already applied: skipped"
    error = models.TextField(blank=True)
    # A run holds the lease while it executes; a redelivered task finds it taken and does nothing.
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["source", "-created_at"], name="inventory_run_source_idx")]

    def __str__(self) -> str:
        return f"Inventory sync #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (RunStatus.PENDING, RunStatus.SYNCING)

    @property
    def status_pill(self) -> str:
        return STATUS_PILL.get(self.status, self.status)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def unmapped_more(self) -> int:
        return max(0, self.unmapped_count - len(self.unmapped_skus))

    @property
    def invalid_more(self) -> int:
        return max(0, self.invalid_count - len(self.invalid_rows))


class AppliedFile(models.Model):
    """A file that was applied. The same name with the same content is never applied twice."""

    source = models.ForeignKey(InventorySource, on_delete=models.CASCADE, related_name="applied_files")
    name = models.CharField(max_length=500)
    checksum = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    run = models.ForeignKey(InventorySyncRun, null=True, blank=True, on_delete=models.SET_NULL)
    applied_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-applied_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "name", "checksum"], name="applied_file_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.checksum[:12]})"


class ChannelStockSettings(models.Model):
    """How a channel receives stock. A channel without a row pushes with no buffer."""

    channel = models.OneToOneField(Channel, on_delete=models.CASCADE, related_name="stock_settings")
    push_enabled = models.BooleanField(default=True)
    safety_buffer = models.PositiveIntegerField(
        default=0, help_text="Held back from every product's available quantity at this channel."
    )
    # Set when a push batch is enqueued, cleared by the batch: one task serves a burst of changes.
    push_pending = models.BooleanField(default=False)
    last_push_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "channel stock settings"

    def __str__(self) -> str:
        return f"Stock settings of {self.channel_id}"


class ChannelListing(models.Model):
    """An explicit "this channel sells this product", for products no order has shown yet."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="listings")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="listings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "product"], name="channel_listing_unique")]

    def __str__(self) -> str:
        return f"{self.product_id} on {self.channel_id}"


class StockPushPending(models.Model):
    """The outbox: a product whose quantity must reach a channel. One row per pair, however
    many changes happened since; the push reads the product's quantity when it runs."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "product"], name="stock_push_pending_unique")]
        indexes = [models.Index(fields=["channel", "id"], name="stock_push_pending_queue_idx")]

    def __str__(self) -> str:
        return f"{self.product_id} for {self.channel_id}"


class StockPush(models.Model):
    """The log: one row per product per push attempt, shown on the product page."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="pushes")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="stock_pushes")
    quantity = models.IntegerField()
    ok = models.BooleanField()
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["product", "-created_at"], name="stock_push_product_idx"),
            models.Index(fields=["channel", "-created_at"], name="stock_push_channel_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of {self.product_id} to {self.channel_id}"
