"""Writes for inventory: sources and their schedules, sync runs and the retry policy, webhook
pushes, products, the SKU mapping table and channel stock settings.

A run goes: `source_sync_start` (row + task, or the run already going) -> task ->
`run_execute` (claim with a conditional UPDATE, read through the source's reader, parse
everything, then apply set-based in one transaction) -> `_run_succeeded` / `_run_failed`.
A failed pull is retried after 5 min, 15 min and 1 h (django-q2 ONCE schedules, with
`next_retry_at` on the source as the record); after the third failed retry the source is Error
and staff are notified; the next success clears both.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.models import Schedule

from channels.models import Channel
from fenicia.models import Notification
from fenicia.notifications import notification_send, notifications_mark_read
from fenicia.tasks import enqueue

from . import apply as stock_apply
from .models import (
    RUN_DETAIL_LIMIT,
    AppliedFile,
    ChannelListing,
    ChannelStockSettings,
    DataFormat,
    Frequency,
    InventoryDelivery,
    InventorySource,
    InventorySyncRun,
    MappingMode,
    Product,
    RunStatus,
    RunTrigger,
    SkuMapping,
    SourceKind,
    SourceStatus,
    StockLevel,
    StockPushPending,
    WebhookAuth,
)
from .push import stock_push_request
from .readers import ftp, rest, sftp
from .readers.base import Document, FileConfig, ReaderError, RecordFormat, RestConfig
from .readers.parsing import Parsed, Unparseable, drop_duplicates, parse_csv, parse_json

logger = logging.getLogger(__name__)

RUN_TASK = "inventory.tasks.run_sync"
SCHEDULED_TASK = "inventory.tasks.scheduled_sync"
RETRY_TASK = "inventory.tasks.retry_sync"
RETRY_DELAYS = (timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
RUN_LEASE = timedelta(minutes=10)
ABANDONED_AFTER = timedelta(hours=1)
SECRET_FIELDS = ("auth_token", "password", "private_key", "webhook_secret")

Progress = Callable[[int], None]


# -- sources ------------------------------------------------------------------------------------
def schedule_name(source_id: int) -> str:
    return f"inventory-source-{source_id}"


def retry_schedule_name(source_id: int) -> str:
    return f"inventory-source-{source_id}-retry"


@transaction.atomic
def source_create(**values: Any) -> InventorySource:
    source = InventorySource(**values)
    if source.kind == SourceKind.WEBHOOK:
        source.frequency_minutes = Frequency.MANUAL  # pushed to us: nothing to poll
    source.save()
    source_schedule_sync(source=source)
    return source


@transaction.atomic
def source_update(*, source: InventorySource, **values: Any) -> InventorySource:
    """Change settings; an empty secret keeps the stored one (secrets are write-only)."""
    locked = InventorySource.objects.select_for_update().get(pk=source.pk)
    connection_changed = any(k in values and values[k] != getattr(locked, k) for k in ("host", "port", "kind"))
    for name, value in values.items():
        if name in SECRET_FIELDS and not value:
            continue
        setattr(locked, name, value)
    if connection_changed:
        locked.host_key = ""  # another server: pin its key afresh
    if locked.kind == SourceKind.WEBHOOK:
        locked.frequency_minutes = Frequency.MANUAL
    locked.save()
    source_schedule_sync(source=locked)
    return locked


def source_schedule_sync(*, source: InventorySource) -> None:
    """Keep the source's django-q2 schedule in step with its frequency (manual: none)."""
    name = schedule_name(source.pk)
    if source.frequency_minutes == Frequency.MANUAL or source.kind == SourceKind.WEBHOOK:
        Schedule.objects.filter(name=name).delete()
        return
    if Schedule.objects.filter(name=name, minutes=source.frequency_minutes, func=SCHEDULED_TASK).exists():
        return  # unchanged: saving other settings must not push the next tick back
    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": SCHEDULED_TASK,
            "args": repr((source.pk,)),
            "schedule_type": Schedule.MINUTES,
            "minutes": source.frequency_minutes,
            "repeats": -1,
            "next_run": timezone.now() + timedelta(minutes=source.frequency_minutes),
            "intended_date_kwarg": None,
        },
    )


@transaction.atomic
def source_delete(*, source: InventorySource) -> None:
    """Remove a source and its stock levels; products it supplied get their totals recomputed
    (and pushed)."""
    product_ids = list(StockLevel.objects.filter(source=source).values_list("product_id", flat=True))
    Schedule.objects.filter(name__in=[schedule_name(source.pk), retry_schedule_name(source.pk)]).delete()
    source.delete()
    now = timezone.now()
    changed = stock_apply.recompute_available_all(product_ids, now=now)
    _request_pushes(stock_apply.queue_pushes(changed, now=now))


# -- runs ---------------------------------------------------------------------------------------
def source_sync_start(
    *,
    source: InventorySource,
    trigger: str = RunTrigger.MANUAL,
    user=None,
    delivery: InventoryDelivery | None = None,
    attempt: int = 0,
    enqueue_task: bool = True,
) -> InventorySyncRun:
    """Create the run and enqueue it. A pull source already syncing gets no second run: the
    running one is returned (a double click, an overlapping schedule). Each webhook push is its
    own run."""
    now = timezone.now()
    with transaction.atomic():
        locked = InventorySource.objects.select_for_update().get(pk=source.pk)
        if delivery is None:
            active = locked.runs.filter(status__in=[RunStatus.PENDING, RunStatus.SYNCING]).order_by("-id")
            stale = active.filter(
                Q(created_at__lt=now - ABANDONED_AFTER, lease_until__isnull=True) | Q(lease_until__lt=now)
            )
            stale.update(status=RunStatus.ERROR, error="Abandoned: the worker never finished it", finished_at=now)
            current = active.first()
            if current is not None:
                return current
        run = InventorySyncRun.objects.create(
            source=locked,
            trigger=trigger,
            requested_by=user if user is not None and user.is_authenticated else None,
            delivery=delivery,
            attempt=attempt,
        )
        if enqueue_task:
            enqueue(RUN_TASK, run.pk)
    return run


def run_execute(*, run_id: int, progress: Progress | None = None, on_total: Progress | None = None):
    """Carry out one run. Returns the run, or None when another worker holds it (a redelivered
    task). Read and parse everything first: an unreadable source or document changes nothing."""
    now = timezone.now()
    claimed = InventorySyncRun.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        pk=run_id,
        status__in=[RunStatus.PENDING, RunStatus.SYNCING],
    ).update(status=RunStatus.SYNCING, lease_until=now + RUN_LEASE, started_at=Coalesce("started_at", now))
    if not claimed:
        return None
    run = InventorySyncRun.objects.select_related("source", "delivery").get(pk=run_id)
    source = run.source
    InventorySource.objects.filter(pk=source.pk).update(status=SourceStatus.SYNCING, last_sync_at=now)
    try:
        documents = _read(source, run)
        if source.is_file_source:
            document = documents[0]
            run.file_name, run.file_checksum = document.name[:500], document.checksum
            if AppliedFile.objects.filter(source=source, name=run.file_name, checksum=document.checksum).exists():
                run.message = f"{document.name} was already applied (same name and checksum): skipped"
                _run_succeeded(run)
                return run
        parsed = _parse(source, documents)
        if on_total:
            on_total(parsed.total)
        _apply(run, parsed, documents, progress=progress)
    except (ReaderError, Unparseable) as exc:
        _run_failed(run, exc.message)
        return run
    except Exception as exc:  # a bug: fail the run visibly, then let the task fail too
        logger.exception("Inventory run %s failed", run_id)
        _run_failed(run, f"Internal error: {exc!r}")
        raise
    _run_succeeded(run)
    return run


def _record_format(source: InventorySource, data_format: str | None = None) -> RecordFormat:
    return RecordFormat(
        data_format=data_format or source.data_format,
        sku_field=source.sku_field,
        quantity_field=source.quantity_field,
        json_list_path=source.json_list_path,
        delimiter=source.delimiter,
        encoding=source.encoding,
    )


def file_config(source: InventorySource) -> FileConfig:
    return FileConfig(
        host=source.host,
        port=source.port or source.default_port,
        username=source.username,
        password=source.password,
        private_key=source.private_key,
        remote_path=source.remote_path,
        host_key=source.host_key,
        data_format=source.data_format,
    )


def rest_config(source: InventorySource) -> RestConfig:
    return RestConfig(
        url=source.url,
        record_format=_record_format(source),
        auth_header=source.auth_header,
        auth_token=source.auth_token,
        pagination=source.pagination,
        next_link_path=source.next_link_path,
        page_param=source.page_param,
    )


def _read(source: InventorySource, run: InventorySyncRun) -> list[Document]:
    if source.kind == SourceKind.REST_API:
        return rest.fetch(rest_config(source))
    if source.kind == SourceKind.FTP:
        return [ftp.fetch(file_config(source))]
    if source.kind == SourceKind.SFTP:
        document = sftp.fetch(file_config(source))
        if not source.host_key and document.host_key:
            InventorySource.objects.filter(pk=source.pk, host_key="").update(host_key=document.host_key)
            source.host_key = document.host_key
        return [document]
    if source.kind == SourceKind.WEBHOOK:
        delivery = run.delivery
        if delivery is None:
            raise ReaderError("Webhook sources are pushed to: there is nothing to pull. Send the stock to the URL.")
        return [Document(name=f"delivery #{delivery.pk}", data=bytes(delivery.body), data_format=_format_of(delivery))]
    raise ReaderError(f"Unknown source kind {source.kind!r}")


def _format_of(delivery: InventoryDelivery) -> str:
    content_type = (delivery.content_type or "").split(";")[0].strip().lower()
    if content_type.endswith("json"):
        return DataFormat.JSON
    if content_type in ("text/csv", "application/csv", "text/plain"):
        return DataFormat.CSV
    return delivery.source.data_format


def _parse(source: InventorySource, documents: list[Document]) -> Parsed:
    parsed = Parsed()
    for document in documents:
        fmt = _record_format(source, document.data_format)
        if document.data_format == DataFormat.JSON:
            page = parse_json(document.data, fmt, payload=document.payload, start=parsed.total)
        else:
            page = parse_csv(document.data, fmt, page=document.page)
        parsed.extend(page)
    parsed.records = drop_duplicates(parsed.records, parsed.invalid)
    return parsed


def _apply(run: InventorySyncRun, parsed: Parsed, documents: list[Document], *, progress: Progress | None) -> None:
    source = run.source
    now = timezone.now()
    with transaction.atomic():
        InventorySource.objects.select_for_update().filter(pk=source.pk).first()  # one apply per source at a time
        result = stock_apply.apply_records(
            source=source, records=parsed.records, invalid=parsed.invalid, now=now, progress=progress
        )
        parsed.invalid.sort()
        run.records_processed = parsed.total
        run.products_updated = len(result.changed_product_ids)
        run.unmapped_count = len(result.unmapped)
        run.unmapped_skus = [
            {"sku": code, "line": line, "quantity": quantity}
            for line, code, quantity in result.unmapped[:RUN_DETAIL_LIMIT]
        ]
        run.invalid_count = len(parsed.invalid)
        run.invalid_rows = [{"line": line, "reason": reason} for line, reason in parsed.invalid[:RUN_DETAIL_LIMIT]]
        if source.is_file_source:
            AppliedFile.objects.create(
                source=source, name=run.file_name, checksum=run.file_checksum, size=documents[0].size, run=run
            )
        if run.delivery_id:
            InventoryDelivery.objects.filter(pk=run.delivery_id).update(
                status=InventoryDelivery.Status.APPLIED, error=""
            )
        run.save()
        _request_pushes(result.push_channel_ids)


def _request_pushes(channel_ids: list[int]) -> None:
    for channel_id in channel_ids:
        stock_push_request(channel_id=channel_id)


def _run_succeeded(run: InventorySyncRun) -> None:
    now = timezone.now()
    run.status, run.finished_at, run.lease_until, run.error = RunStatus.COMPLETED, now, None, ""
    run.save()
    source = run.source
    was_failing = InventorySource.objects.filter(pk=source.pk, consecutive_failures__gt=0).exists()
    InventorySource.objects.filter(pk=source.pk).update(
        status=SourceStatus.COMPLETED,
        last_successful_sync_at=now,
        consecutive_failures=0,
        next_retry_at=None,
        last_error="",
    )
    Schedule.objects.filter(name=retry_schedule_name(source.pk)).delete()
    if was_failing:
        # The problem staff were told about is over: the alert goes from the unread list.
        ids = list(
            Notification.objects.filter(dedupe_key=_alert_key(source.pk), read_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if ids:
            notifications_mark_read(ids=ids)


def _alert_key(source_id: int) -> str:
    return f"inventory-source-failing-{source_id}"


def _run_failed(run: InventorySyncRun, message: str) -> None:
    """Record the failure and decide what happens next: a retry after 5 min, 15 min, 1 h for
    pull sources; after the third failed retry (or at once for a pushed body, which a retry
    can't fix) the source is Error and staff are notified."""
    now = timezone.now()
    run.status, run.error, run.finished_at, run.lease_until = RunStatus.ERROR, message, now, None
    run.save()
    if run.delivery_id:
        InventoryDelivery.objects.filter(pk=run.delivery_id).update(
            status=InventoryDelivery.Status.FAILED, error=message
        )
    with transaction.atomic():
        source = InventorySource.objects.select_for_update().get(pk=run.source_id)
        source.consecutive_failures += 1
        source.last_error = message
        failures = source.consecutive_failures
        retry_at = None
        if source.is_pull_source and failures <= len(RETRY_DELAYS):
            retry_at = now + RETRY_DELAYS[failures - 1]
            source.status, source.next_retry_at = SourceStatus.PENDING, retry_at
            Schedule.objects.update_or_create(
                name=retry_schedule_name(source.pk),
                defaults={
                    "func": RETRY_TASK,
                    "args": repr((source.pk,)),
                    "schedule_type": Schedule.ONCE,
                    "repeats": 1,
                    "next_run": retry_at,
                },
            )
            run.message = f"Retry {failures} of {len(RETRY_DELAYS)} at {timezone.localtime(retry_at):%H:%M}"
            run.save(update_fields=["message"])
        else:
            source.status, source.next_retry_at = SourceStatus.ERROR, None
            Schedule.objects.filter(name=retry_schedule_name(source.pk)).delete()
        source.save(update_fields=["consecutive_failures", "last_error", "status", "next_retry_at", "updated_at"])
    if retry_at is None:
        if source.is_pull_source:
            detail = f"It failed {failures} times in a row, automatic retries included."
        else:
            detail = "The pushed body could not be applied; nothing from it was stored as stock."
        notification_send(
            title=f"Inventory source {source.name}: sync failing",
            message=f"{detail} Last error: {message}",
            link=source.get_absolute_url(),
            dedupe_key=_alert_key(source.pk),
        )


def source_retry_due(*, source_id: int) -> InventorySyncRun | None:
    """The retry schedule fired: start the retry unless a success cleared it meanwhile."""
    now = timezone.now()
    source = InventorySource.objects.filter(pk=source_id).first()
    if source is None or source.next_retry_at is None or source.next_retry_at > now + timedelta(seconds=30):
        return None
    InventorySource.objects.filter(pk=source_id).update(next_retry_at=None)
    return source_sync_start(source=source, trigger=RunTrigger.RETRY, attempt=source.consecutive_failures)


def source_scheduled_sync(*, source_id: int) -> InventorySyncRun | None:
    """The frequency schedule fired. While a retry is scheduled the retry is the next attempt
    (the policy's 5/15/60 minutes hold); a retry whose schedule got lost runs now."""
    now = timezone.now()
    source = InventorySource.objects.filter(pk=source_id).first()
    if source is None or not source.is_pull_source:
        return None
    if source.next_retry_at is not None:
        if source.next_retry_at > now:
            return None
        return source_retry_due(source_id=source_id)
    return source_sync_start(source=source, trigger=RunTrigger.SCHEDULE)


# -- webhook pushes -------------------------------------------------------------------------------
@dataclass
class Receipt:
    status_code: int
    reason: str = ""
    delivery_id: int | None = None
    run_id: int | None = None


def webhook_signature(secret: str, body: bytes) -> str:
    """What a sender puts in the signature header: "sha256=" + hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_verify(source: InventorySource, headers: Mapping[str, str], body: bytes) -> bool:
    """Constant-time check of the token or the HMAC signature. No secret: nothing passes."""
    secret = source.webhook_secret
    if not secret:
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    sent = (lowered.get((source.webhook_header or "").lower()) or "").strip()
    if not sent:
        return False
    if source.webhook_auth == WebhookAuth.TOKEN:
        if sent.lower().startswith("bearer "):
            sent = sent[7:].strip()
        return hmac.compare_digest(sent.encode(), secret.encode())
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    value = sent.split("=", 1)[1] if sent.lower().startswith("sha256=") else sent
    candidates = (digest.hex().encode(), base64.b64encode(digest))
    # Compare against both encodings, always both, so timing says nothing about which was used.
    results = [hmac.compare_digest(value.encode(), c) for c in candidates]
    return any(results)


def webhook_receive(
    *, source: InventorySource, headers: Mapping[str, str], body: bytes, content_type: str = ""
) -> Receipt:
    """Verify, store, enqueue — then answer. A forged push stores nothing."""
    if source.kind != SourceKind.WEBHOOK:
        return Receipt(404, "not a webhook source")
    if not webhook_verify(source, headers, body):
        return Receipt(401, "invalid token or signature")
    with transaction.atomic():
        delivery = InventoryDelivery.objects.create(
            source=source,
            body=body,
            content_type=content_type[:100],
            headers={k: v for k, v in headers.items() if k.lower() in ("content-type", "user-agent", "x-request-id")},
            checksum=hashlib.sha256(body).hexdigest(),
        )
        run = source_sync_start(source=source, trigger=RunTrigger.WEBHOOK, delivery=delivery)
    return Receipt(202, "accepted", delivery_id=delivery.pk, run_id=run.pk)


# -- products and mapping -----------------------------------------------------------------------
@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def product_create(*, sku: str, name: str = "", barcode: str = "") -> Product:
    sku = sku.strip()
    if not sku:
        raise ValueError("A product needs a SKU")
    return Product.objects.create(sku=sku[:255], name=(name or sku).strip()[:255], barcode=barcode.strip()[:64])


def _csv_rows(data: bytes, required: tuple[str, ...]) -> tuple[list[tuple[int, dict[str, str]]], list[tuple[int, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().casefold() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        return [], [(1, f"missing column(s): {', '.join(missing)}")]
    rows = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        rows.append(
            (reader.line_num, {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(header)})
        )
    return rows, []


def _products_with_skus(skus: list[str]) -> list[Product]:
    found: list[Product] = []
    for start in range(0, len(skus), stock_apply.LOOKUP_CHUNK):
        found.extend(Product.objects.filter(sku__in=skus[start : start + stock_apply.LOOKUP_CHUNK]))
    return found


@transaction.atomic
def products_import_csv(*, data: bytes) -> ImportResult:
    """Columns sku (required), name, barcode. Existing SKUs get their name/barcode updated."""
    rows, errors = _csv_rows(data, ("sku",))
    result = ImportResult(errors=errors)
    by_sku: dict[str, tuple[str, str]] = {}
    for line, row in rows:
        sku = row.get("sku", "")
        if not sku:
            result.errors.append((line, "sku is empty"))
            continue
        if len(sku) > 255:
            result.errors.append((line, "sku is longer than 255 characters"))
            continue
        by_sku[sku] = (row.get("name") or sku, row.get("barcode", ""))
    existing = {p.sku: p for p in _products_with_skus(list(by_sku))}
    new = [Product(sku=s, name=n[:255], barcode=b[:64]) for s, (n, b) in by_sku.items() if s not in existing]
    Product.objects.bulk_create(new, batch_size=1000)
    changed = []
    for sku, product in existing.items():
        name, barcode = by_sku[sku]
        if (product.name, product.barcode) != (name[:255], barcode[:64] or product.barcode):
            product.name, product.barcode = name[:255], barcode[:64] or product.barcode
            changed.append(product)
    Product.objects.bulk_update(changed, ["name", "barcode"], batch_size=1000)
    result.created, result.updated = len(new), len(changed)
    return result


@transaction.atomic
def product_create_from_unmapped(*, source: InventorySource, sku: str) -> Product:
    """One click on an unmapped SKU: the product exists (with that SKU), the table maps the
    code when the source maps by table, and the quantity the latest run read for the code is
    applied now — otherwise an already-applied file would never bring it in."""
    product = Product.objects.filter(sku=sku).first() or product_create(sku=sku)
    if source.mapping_mode == MappingMode.TABLE:
        SkuMapping.objects.get_or_create(source=source, external_code=sku, defaults={"product": product})
    latest = None
    for run in source.runs.filter(status=RunStatus.COMPLETED, unmapped_count__gt=0).order_by("-id")[:20]:
        latest = next((u for u in run.unmapped_skus if u.get("sku") == sku), None)
        if latest is not None:
            break
    if latest is not None and latest.get("quantity") is not None:
        now = timezone.now()
        stock_apply.upsert_levels(source_id=source.pk, rows=[(product.pk, int(latest["quantity"]))], now=now)
        changed = stock_apply.recompute_available([product.pk], now=now)
        _request_pushes(stock_apply.queue_pushes(changed, now=now))
    return product


def mapping_set(*, source: InventorySource, external_code: str, product: Product) -> SkuMapping:
    mapping, _ = SkuMapping.objects.update_or_create(
        source=source, external_code=external_code.strip(), defaults={"product": product}
    )
    return mapping


def mapping_delete(*, source: InventorySource, mapping_id: int) -> bool:
    return SkuMapping.objects.filter(source=source, pk=mapping_id).delete()[0] > 0


@transaction.atomic
def mappings_import_csv(*, source: InventorySource, data: bytes) -> ImportResult:
    """Columns external_code and sku; a code already mapped is re-pointed."""
    rows, errors = _csv_rows(data, ("external_code", "sku"))
    result = ImportResult(errors=errors)
    skus = {row["sku"] for _, row in rows if row.get("sku")}
    products = {p.sku: p.pk for p in _products_with_skus(list(skus))}
    existing = dict(source.mappings.values_list("external_code", "product_id"))
    for line, row in rows:
        code, sku = row.get("external_code", ""), row.get("sku", "")
        if not code or not sku:
            result.errors.append((line, "external_code and sku are both required"))
            continue
        product_id = products.get(sku)
        if product_id is None:
            result.errors.append((line, f"no product with SKU {sku}"))
            continue
        if existing.get(code) == product_id:
            continue
        try:
            with transaction.atomic():
                SkuMapping.objects.update_or_create(
                    source=source, external_code=code, defaults={"product_id": product_id}
                )
        except IntegrityError as exc:  # pragma: no cover - unique per (source, code), guarded above
            result.errors.append((line, str(exc)))
            continue
        if code in existing:
            result.updated += 1
        else:
            result.created += 1
        existing[code] = product_id
    return result


# -- channels -----------------------------------------------------------------------------------
def channel_stock_settings_update(*, channel: Channel, push_enabled: bool, safety_buffer: int) -> ChannelStockSettings:
    """Change how a channel gets stock; a new buffer re-pushes what the channel sells."""
    settings_row, _ = ChannelStockSettings.objects.get_or_create(channel=channel)
    buffer_changed = settings_row.safety_buffer != safety_buffer
    enabled_now = push_enabled and not settings_row.push_enabled
    settings_row.push_enabled, settings_row.safety_buffer = push_enabled, safety_buffer
    settings_row.save(update_fields=["push_enabled", "safety_buffer"])
    if push_enabled and (buffer_changed or enabled_now):
        channel_push_all(channel=channel)
    return settings_row


def channel_push_all(*, channel: Channel) -> int:
    """Queue every product the channel sells (after a buffer change, or by hand)."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(Product.objects.values_list("id", flat=True))
        _request_pushes(stock_apply.queue_pushes(ids, now=now, channel_id=channel.pk))
    return StockPushPending.objects.filter(channel=channel).count()


def listing_set(*, channel: Channel, product: Product, listed: bool = True) -> None:
    if listed:
        ChannelListing.objects.get_or_create(channel=channel, product=product)
        now = timezone.now()
        with transaction.atomic():
            _request_pushes(stock_apply.queue_pushes([product.pk], now=now))
    else:
        ChannelListing.objects.filter(channel=channel, product=product).delete()
