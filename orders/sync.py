"""Sync orchestration: how orders come in. Webhook inbox drains, scheduled polls, "Sync orders"
imports and bulk re-syncs all run as steps of at most FENICIA_SYNC_BATCH_SIZE orders and all
end in `orders_upsert`."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.models import Schedule

from channels.adapters import adapter_for
from channels.adapters.base import AuthExpired, ChannelError, InvalidPayload, NormalizedOrder, OrderNotFound
from channels.models import Channel, ChannelStatus, SyncRun, WebhookEvent
from channels.services import channel_call, channel_record_failure, channel_record_success
from fenicia.db import update_from_values
from fenicia.notifications import notification_send
from fenicia.tasks import enqueue

from .models import Order, SyncEvent
from .services import channel_event, order_mark_not_found, order_record_sync_failure, orders_upsert

logger = logging.getLogger(__name__)

STEP_TASK = "orders.tasks.sync_run_step"
STEP_LEASE = timedelta(minutes=5)
MAX_STEP_RETRIES = 3
DEFAULT_IMPORT_DAYS = 30
FIRST_POLL_LOOKBACK = timedelta(days=1)


def _batch_size() -> int:
    return settings.FENICIA_SYNC_BATCH_SIZE


# -- the webhook inbox ------------------------------------------------------------------------
def inbox_drain(*, channel_id: int) -> int:
    """Process every received delivery of the channel, a batch per transaction. Returns how
    many deliveries were handled. Safe to run concurrently: on PostgreSQL each batch claims its
    rows with SKIP LOCKED, and upserts are idempotent anyway."""
    Channel.objects.filter(pk=channel_id).update(inbox_drain_pending=False)
    channel = Channel.objects.get(pk=channel_id)
    handled = 0
    while True:
        batch = _drain_batch(channel)
        if not batch:
            return handled
        handled += batch


def _drain_batch(channel: Channel) -> int:
    adapter = adapter_for(channel)
    with transaction.atomic():
        queue = WebhookEvent.objects.filter(channel=channel, status=WebhookEvent.Status.RECEIVED).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            queue = queue.select_for_update(skip_locked=True)
        events = list(queue[: settings.FENICIA_INBOX_BATCH_SIZE])
        if not events:
            return 0
        now = timezone.now()
        by_topic: dict[str, list[NormalizedOrder]] = defaultdict(list)
        to_fetch: dict[str, list[str]] = defaultdict(list)
        failed: list[WebhookEvent] = []
        for event in events:
            event.processed_at = now
            try:
                parsed = adapter.parse_webhook(headers=event.headers, body=bytes(event.body))
            except InvalidPayload as exc:
                event.status, event.error = WebhookEvent.Status.FAILED, exc.message
                failed.append(event)
                continue
            if parsed.ignored_reason:
                event.status, event.error = WebhookEvent.Status.IGNORED, parsed.ignored_reason
            elif parsed.order is not None:
                event.status, event.error = WebhookEvent.Status.PROCESSED, ""
                event.order_external_id = parsed.order.external_id
                by_topic[parsed.topic].append(parsed.order)
            else:
                event.status, event.error = WebhookEvent.Status.PROCESSED, ""
                event.order_external_id = parsed.order_external_id
                to_fetch[parsed.topic].append(parsed.order_external_id)
        for topic, external_ids in to_fetch.items():
            # Thin or pointer payloads: the order itself is read from the channel.
            try:
                fetched = channel_call(channel, lambda a, ids=external_ids: a.fetch_orders(ids))
            except ChannelError as exc:
                for event in events:
                    if event.order_external_id in external_ids:
                        event.status, event.error = (
                            WebhookEvent.Status.RECEIVED,
                            f"Fetch failed, will retry: {exc.message}",
                        )
                channel_record_failure(channel_id=channel.pk, error=exc)
                continue
            by_topic[topic].extend(fetched.values())
        for topic, orders in by_topic.items():
            orders_upsert(channel=channel, orders=orders, source="webhook", topic=topic)
        _mark_events(events, now)
    for event in failed:
        _report_bad_webhook(channel, event)
    return len(events)


def _mark_events(events: list[WebhookEvent], now) -> None:
    """Record each delivery's outcome set-based: one UPDATE per (status, error) group and one
    for the order ids (bulk_update's per-row CASE was most of the drain's time)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for event in events:
        groups[(event.status, event.error)].append(event.pk)
    for (status, error), ids in groups.items():
        WebhookEvent.objects.filter(pk__in=ids).update(
            status=status, error=error, processed_at=now, attempts=F("attempts") + 1
        )
    update_from_values(
        WebhookEvent, "order_external_id", [(e.pk, e.order_external_id) for e in events if e.order_external_id]
    )


def _report_bad_webhook(channel: Channel, event: WebhookEvent) -> None:
    channel_event(
        channel=channel,
        kind=SyncEvent.Kind.WEBHOOK,
        outcome=SyncEvent.Outcome.FAILURE,
        source="webhook",
        message=f"Webhook {event.topic or ''} {event.delivery_id} could not be parsed: {event.error}",
        details={"webhook_event_id": event.pk},
    )
    notification_send(
        title=f"{channel.name}: a webhook could not be processed",
        message=f"Delivery {event.delivery_id} ({event.topic}) was stored but could not be parsed: {event.error}. "
        "It can be replayed from the channel page once fixed.",
        link=channel.get_absolute_url(),
        dedupe_key=f"webhook-parse-{channel.pk}",
    )


# -- one order ----------------------------------------------------------------------------------
def order_sync(*, order_id: int, source: str = "manual") -> str:
    """Re-read one order from its channel and overwrite our copy. Returns the outcome."""
    order = Order.objects.select_related("channel").get(pk=order_id)
    channel = order.channel
    try:
        normalized = channel_call(channel, lambda a: a.fetch_order(order.external_id))
    except OrderNotFound as exc:
        order_mark_not_found(order=order, source=source, message=f"The channel answered 404: {exc.message}")
        return "not_found"
    except ChannelError as exc:
        order_record_sync_failure(order=order, source=source, error=exc, details={"status": exc.status})
        channel_record_failure(channel_id=channel.pk, error=exc)
        notification_send(
            title=f"Order {order} could not be synced",
            message=exc.message,
            link=order.get_absolute_url(),
            dedupe_key=f"order-sync-{order.pk}",
        )
        return "failed"
    result = orders_upsert(channel=channel, orders=[normalized], source=source)
    channel_record_success(channel_id=channel.pk)
    return "stale" if result.stale else "synced"


def order_sync_request(*, order: Order, source: str = "manual") -> None:
    """What the Sync button does: the timeline says it was asked, a task does the reading."""
    SyncEvent.objects.create(
        order=order,
        channel_id=order.channel_id,
        kind=SyncEvent.Kind.SYNCED,
        outcome=SyncEvent.Outcome.INFO,
        source=source,
        message="Sync requested",
    )
    enqueue("orders.tasks.sync_order", order.pk, source)


# -- runs: poll, import, re-sync -------------------------------------------------------------------
def sync_run_start(
    *, channel: Channel, kind: str, since=None, until=None, external_ids=None, user=None, enqueue_first: bool = True
) -> SyncRun:
    now = timezone.now()
    run = SyncRun.objects.create(
        channel=channel,
        kind=kind,
        requested_by=user if user and user.is_authenticated else None,
        window_start=since,
        window_end=until,
        external_ids=list(external_ids or []),
        total=len(external_ids) if external_ids is not None else None,
    )
    if kind == SyncRun.Kind.IMPORT and since is None:
        run.window_start = now - timedelta(days=DEFAULT_IMPORT_DAYS)
        run.save(update_fields=["window_start"])
    if enqueue_first:
        enqueue(STEP_TASK, run.pk)
    return run


def orders_resync_start(*, order_ids: list[int], user=None) -> list[SyncRun]:
    """Bulk re-sync of selected orders: one run per channel, each stepping 100 orders at a time."""
    by_channel: dict[int, list[str]] = defaultdict(list)
    for channel_id, external_id in Order.objects.filter(pk__in=order_ids).values_list("channel_id", "external_id"):
        by_channel[channel_id].append(external_id)
    return [
        sync_run_start(
            channel=Channel.objects.get(pk=channel_id), kind=SyncRun.Kind.RESYNC, external_ids=sorted(ids), user=user
        )
        for channel_id, ids in by_channel.items()
    ]


def channel_poll(*, channel_id: int) -> SyncRun | None:
    """The scheduled poll (for webhook channels, the reconciliation poll). Skips when a poll of
    the channel is still running, so a slow poll and the next tick never overlap."""
    now = timezone.now()
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel_id)
        if (
            channel.inbox_drain_pending
            or WebhookEvent.objects.filter(
                channel=channel, status=WebhookEvent.Status.RECEIVED, received_at__lt=now - timedelta(minutes=1)
            ).exists()
        ):
            enqueue("orders.tasks.drain_inbox", channel.pk)  # a lost drain task must not strand deliveries
        if channel.status in (ChannelStatus.DISABLED, ChannelStatus.NEEDS_RECONNECT):
            return None
        active = channel.sync_runs.filter(
            kind=SyncRun.Kind.POLL, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
        )
        if active.filter(created_at__gt=now - timedelta(hours=1)).exists():
            return None
        active.update(status=SyncRun.Status.FAILED, error="Abandoned: no progress for an hour", finished_at=now)
        adapter = adapter_for(channel)
        start = (channel.sync_cursor - adapter.poll_overlap) if channel.sync_cursor else now - FIRST_POLL_LOOKBACK
        return sync_run_start(channel=channel, kind=SyncRun.Kind.POLL, since=start, until=now - adapter.poll_end_lag)


def sync_run_step(*, run_id: int, enqueue_next: bool = True) -> bool:
    """Carry a run forward by at most one batch; True when the run has nothing left to do.

    Claims the run with a conditional UPDATE, so a redelivered task or a second worker does
    nothing; the next step is enqueued only after this one's orders and cursor are committed
    together. `enqueue_next=False` lets a management command drive the steps itself."""
    now = timezone.now()
    claimed = SyncRun.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        pk=run_id,
        status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING],
    ).update(status=SyncRun.Status.RUNNING, lease_until=now + STEP_LEASE, started_at=Coalesce("started_at", now))
    if not claimed:
        return False
    run = SyncRun.objects.select_related("channel").get(pk=run_id)
    channel = run.channel
    try:
        if run.kind == SyncRun.Kind.RESYNC:
            done = _resync_step(run)
        else:
            done = _window_step(run)
    except ChannelError as exc:
        _step_failed(run, exc)
        return False
    except Exception as exc:
        _step_failed(run, exc)
        raise
    channel_record_success(channel_id=channel.pk)
    if done:
        _run_finished(run)
    elif enqueue_next:
        enqueue(STEP_TASK, run.pk)
    return done


def _resync_step(run: SyncRun) -> bool:
    channel = run.channel
    ids = run.external_ids[run.position : run.position + _batch_size()]
    fetched = channel_call(channel, lambda a: a.fetch_orders(ids)) if ids else {}
    with transaction.atomic():
        result = orders_upsert(channel=channel, orders=list(fetched.values()), source="resync", run=run)
        missing = [e for e in ids if e not in fetched]
        for order in Order.objects.filter(channel=channel, external_id__in=missing):
            order_mark_not_found(order=order, source="resync")
        _count(run, result, processed=len(ids), failed=len(missing))
        run.position += len(ids)
        run.save()
    return run.position >= len(run.external_ids)


def _window_step(run: SyncRun) -> bool:
    channel = run.channel
    batch = _batch_size()

    def read(adapter):
        total = run.total
        if total is None and run.steps == 0:
            try:
                total = adapter.count_orders(updated_since=run.window_start, updated_until=run.window_end)
            except ChannelError:
                total = None  # progress without a total is still progress
        orders, cursor = [], run.page_cursor or None
        while len(orders) < batch:
            page = adapter.list_orders(
                updated_since=run.window_start, updated_until=run.window_end, cursor=cursor, limit=batch - len(orders)
            )
            orders.extend(page.orders)
            cursor = page.next_cursor
            if not cursor:
                break
        return total, orders, cursor

    total, orders, cursor = channel_call(channel, read)
    with transaction.atomic():
        result = orders_upsert(channel=channel, orders=orders, source=run.kind, run=run)
        run.total = total
        _count(run, result, processed=len(orders))
        run.page_cursor = cursor or ""
        run.save()
    return cursor is None


def _count(run: SyncRun, result, *, processed: int, failed: int = 0) -> None:
    run.processed += processed
    run.created_count += len(result.created)
    run.updated_count += len(result.updated)
    run.stale_count += len(result.stale)
    run.failed_count += failed
    run.steps += 1
    run.step_retries = 0
    run.lease_until = None


def _run_finished(run: SyncRun) -> None:
    now = timezone.now()
    if run.total is None or run.total < run.processed:
        run.total = run.processed
    run.status, run.finished_at, run.lease_until = SyncRun.Status.SUCCEEDED, now, None
    run.save()
    if run.kind == SyncRun.Kind.POLL and run.window_end:
        Channel.objects.filter(
            Q(sync_cursor__isnull=True) | Q(sync_cursor__lt=run.window_end), pk=run.channel_id
        ).update(sync_cursor=run.window_end)
    channel_event(
        channel=run.channel,
        run=run,
        kind=SyncEvent.Kind.POLL if run.kind == SyncRun.Kind.POLL else SyncEvent.Kind.RUN,
        outcome=SyncEvent.Outcome.SUCCESS,
        source=run.kind,
        message=f"{run.get_kind_display()} finished: {run.processed} orders read, {run.created_count} new, "
        f"{run.updated_count} updated, {run.stale_count} older updates ignored"
        + (f", {run.failed_count} not found" if run.failed_count else ""),
        details={"run_id": run.pk, "steps": run.steps},
    )


def _step_failed(run: SyncRun, exc: Exception) -> None:
    """Transient failures retry the step later (a few times); anything else fails the run."""
    now = timezone.now()
    message = getattr(exc, "message", None) or repr(exc)
    retryable = isinstance(exc, ChannelError) and exc.retryable and run.step_retries < MAX_STEP_RETRIES
    if isinstance(exc, ChannelError):
        channel_record_failure(channel_id=run.channel_id, error=exc)
    if retryable:
        run.step_retries += 1
        run.error = f"Retrying after: {message}"
        run.lease_until = None
        run.save(update_fields=["step_retries", "error", "lease_until"])
        Schedule.objects.create(
            func=STEP_TASK,
            args=repr((run.pk,)),
            schedule_type=Schedule.ONCE,
            repeats=1,
            next_run=now + timedelta(seconds=30 * run.step_retries),
            name=f"sync-run-{run.pk}-retry-{run.step_retries}",
        )
        channel_event(
            channel=run.channel,
            run=run,
            kind=SyncEvent.Kind.ERROR,
            outcome=SyncEvent.Outcome.FAILURE,
            source=run.kind,
            message=f"{run.get_kind_display()} step failed, retry "
            f"{run.step_retries} of {MAX_STEP_RETRIES} scheduled: {message}",
        )
        return
    run.status, run.error, run.finished_at, run.lease_until = SyncRun.Status.FAILED, message, now, None
    run.save(update_fields=["status", "error", "finished_at", "lease_until"])
    kind = SyncEvent.Kind.AUTH if isinstance(exc, AuthExpired) else SyncEvent.Kind.ERROR
    channel_event(
        channel=run.channel,
        run=run,
        kind=kind,
        outcome=SyncEvent.Outcome.FAILURE,
        source=run.kind,
        message=f"{run.get_kind_display()} failed: {message}",
        details={"run_id": run.pk},
    )
    if not isinstance(exc, AuthExpired):  # auth failures already notified, once, by the channel
        notification_send(
            title=f"{run.channel.name}: {run.get_kind_display().lower()} failed",
            message=message,
            link=run.channel.get_absolute_url(),
            dedupe_key=f"run-failed-{run.channel_id}-{run.kind}",
        )
