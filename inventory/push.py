"""Stock to channels: drain the push outbox one batch (at most 100 products) per task.

A change puts (channel, product) in `StockPushPending` in the same transaction as the change;
after the commit one task per channel is enqueued (a flag on the channel's stock settings makes a
burst of changes enqueue one task, not one per change). A batch claims its rows with a lease,
reads each product's quantity *now* (so ten changes in a minute push once, with the latest
value), subtracts the channel's safety buffer (never below 0), calls the adapter's
`push_stock`, logs one `StockPush` row per product, and enqueues the next batch while rows
remain. Batches of one channel are spaced by FENICIA_STOCK_PUSH_INTERVAL_SECONDS on top of the
HTTP client's own Retry-After handling: that is the rate limit.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.models import Schedule

from channels.adapters import ADAPTERS
from channels.adapters.base import Capability, ChannelError, StockItem
from channels.models import Channel, ChannelStatus
from channels.services import channel_call, channel_record_failure
from fenicia.notifications import notification_send
from fenicia.tasks import enqueue

from .models import ChannelStockSettings, Product, StockPush, StockPushPending

logger = logging.getLogger(__name__)

PUSH_TASK = "inventory.tasks.push_stock"
PUSH_BATCH = 100
PUSH_LEASE = timedelta(minutes=5)
MAX_PUSH_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=1)


def _sleep(seconds: float) -> None:
    """Indirection so tests can replace waiting."""
    time.sleep(seconds)


def push_interval() -> float:
    return float(getattr(settings, "FENICIA_STOCK_PUSH_INTERVAL_SECONDS", 0.5))


def stock_settings_for(channel: Channel) -> ChannelStockSettings:
    settings_row, _ = ChannelStockSettings.objects.get_or_create(channel=channel)
    return settings_row


def can_push(channel: Channel) -> bool:
    adapter_class = ADAPTERS.get(channel.kind)
    return Capability.PUSH_STOCK in getattr(adapter_class, "capabilities", ())


def stock_push_request(*, channel_id: int) -> None:
    """Enqueue one push batch for the channel unless one is already waiting."""
    ChannelStockSettings.objects.get_or_create(channel_id=channel_id)
    if ChannelStockSettings.objects.filter(channel_id=channel_id, push_pending=False).update(push_pending=True):
        enqueue(PUSH_TASK, channel_id)


def stock_push_batch(*, channel_id: int) -> int:
    """Push at most PUSH_BATCH products to the channel; returns how many were attempted."""
    ChannelStockSettings.objects.filter(channel_id=channel_id).update(push_pending=False)
    channel = Channel.objects.get(pk=channel_id)
    stock_settings = stock_settings_for(channel)
    if not can_push(channel) or not stock_settings.push_enabled:
        StockPushPending.objects.filter(channel=channel).delete()  # nothing will ever take them
        return 0
    if channel.status in (ChannelStatus.DISABLED, ChannelStatus.NEEDS_RECONNECT):
        return 0  # rows wait for the channel to be resumed or reconnected (the sweep re-enqueues)
    claimed_at = timezone.now()
    rows = _claim(channel_id, claimed_at)
    if not rows:
        return 0
    _respect_interval(stock_settings)
    ids = [r[0] for r in rows]
    products = {p.pk: p for p in Product.objects.filter(pk__in=[r[1] for r in rows]).only("id", "sku", "available")}
    buffer = stock_settings.safety_buffer
    items = [
        StockItem(sku=products[product_id].sku, available=max(0, products[product_id].available - buffer))
        for _, product_id, _ in rows
        if product_id in products
    ]
    by_sku = {p.sku: p for p in products.values()}
    try:
        results = channel_call(channel, lambda adapter: adapter.push_stock(items))
    except ChannelError as exc:
        _batch_failed(channel, rows, items, by_sku, exc)
        return len(items)
    finally:
        ChannelStockSettings.objects.filter(pk=stock_settings.pk).update(last_push_at=timezone.now())
    outcome = {r.sku: r for r in results}
    StockPush.objects.bulk_create(
        [
            StockPush(
                product=by_sku[item.sku],
                channel=channel,
                quantity=item.available,
                ok=bool(outcome.get(item.sku) and outcome[item.sku].ok),
                message=(outcome[item.sku].message if item.sku in outcome else "The channel reported nothing")[:1000],
            )
            for item in items
        ]
    )
    # A row changed again while we pushed (requested after the claim) stays for the next batch.
    StockPushPending.objects.filter(pk__in=ids, requested_at__lte=claimed_at).delete()
    StockPushPending.objects.filter(pk__in=ids).update(lease_until=None)
    if StockPushPending.objects.filter(channel_id=channel_id).exists():
        stock_push_request(channel_id=channel_id)
    return len(items)


def _claim(channel_id: int, now) -> list[tuple[int, int, int]]:
    """Lease the oldest PUSH_BATCH rows of the channel: (row id, product id, attempts)."""
    with transaction.atomic():
        queue = StockPushPending.objects.filter(
            Q(lease_until__isnull=True) | Q(lease_until__lt=now), channel_id=channel_id
        ).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            queue = queue.select_for_update(skip_locked=True)
        rows = list(queue.values_list("id", "product_id", "attempts")[:PUSH_BATCH])
        if rows:
            StockPushPending.objects.filter(pk__in=[r[0] for r in rows]).update(
                lease_until=now + PUSH_LEASE, attempts=F("attempts") + 1
            )
    return rows


def _respect_interval(stock_settings: ChannelStockSettings) -> None:
    interval = push_interval()
    if not interval or stock_settings.last_push_at is None:
        return
    wait = interval - (timezone.now() - stock_settings.last_push_at).total_seconds()
    if wait > 0:
        _sleep(min(wait, interval))


def _batch_failed(channel: Channel, rows, items, by_sku, exc: ChannelError) -> None:
    """The whole call failed (after the HTTP client's own retries). Each product's log says so;
    rows are retried a minute later up to MAX_PUSH_ATTEMPTS, then dropped with a notification
    (the next change of the product queues it again)."""
    message = getattr(exc, "message", None) or str(exc)
    StockPush.objects.bulk_create(
        [
            StockPush(product=by_sku[item.sku], channel=channel, quantity=item.available, ok=False, message=message)
            for item in items
        ]
    )
    channel_record_failure(channel_id=channel.pk, error=exc)
    exhausted = [r[0] for r in rows if r[2] + 1 >= MAX_PUSH_ATTEMPTS]
    StockPushPending.objects.filter(pk__in=exhausted).delete()
    StockPushPending.objects.filter(pk__in=[r[0] for r in rows]).update(lease_until=None)
    if exhausted:
        notification_send(
            title=f"{channel.name}: stock could not be pushed",
            message=f"{len(exhausted)} products were not updated after {MAX_PUSH_ATTEMPTS} attempts. Last error: "
            f"{message}",
            link=channel.get_absolute_url(),
            dedupe_key=f"stock-push-{channel.pk}",
        )
    if StockPushPending.objects.filter(channel=channel).exists():
        Schedule.objects.create(
            func=PUSH_TASK,
            args=repr((channel.pk,)),
            schedule_type=Schedule.ONCE,
            repeats=1,
            next_run=timezone.now() + RETRY_AFTER,
            name=f"stock-push-{channel.pk}-retry-{int(time.time() * 1000)}",
        )


def stock_push_sweep() -> list[int]:
    """The periodic safety net: enqueue a batch for every channel with rows waiting (a lost
    task, a channel that was reconnected). Returns the channels enqueued."""
    channel_ids = sorted(set(StockPushPending.objects.values_list("channel_id", flat=True)))
    for channel_id in channel_ids:
        ChannelStockSettings.objects.filter(channel_id=channel_id).update(push_pending=False)
        stock_push_request(channel_id=channel_id)
    return channel_ids
