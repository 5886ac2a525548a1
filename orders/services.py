"""Writes for orders. Every path that brings an order in — webhook, poll, single sync, bulk
run — ends in `orders_upsert`, which is idempotent and never goes backwards."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from channels.adapters.base import NormalizedOrder
from channels.models import Channel, SyncRun
from fenicia.db import upsert_returning

from .models import Order, OrderLine, Shipment, SyncEvent, SyncState

UPSERT_CHUNK = 200
ORDER_FIELDS = (
    "number",
    "status",
    "channel_status",
    "payment_status",
    "fulfillment_status",
    "currency",
    "subtotal",
    "shipping_total",
    "tax_total",
    "discount_total",
    "total",
    "customer_name",
    "customer_email",
    "customer_phone",
    "shipping_address",
    "billing_address",
    "notes",
    "tags",
    "placed_at",
    "source_updated_at",
    "raw",
)
SOURCE_LABELS = {
    "webhook": "a webhook",
    "poll": "a scheduled poll",
    "manual": "a manual sync",
    "import": "Sync orders",
    "resync": "a bulk re-sync",
    "api": "the API",
}


@dataclass
class UpsertResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # external ids whose update was older than ours

    @property
    def order_ids(self) -> list[int]:
        return self.created + self.updated


def _order_row(channel_id: int, order: NormalizedOrder, now) -> dict[str, Any]:
    row = {name: getattr(order, name) for name in ORDER_FIELDS}
    row["number"] = row["number"][:100]
    row.update(
        channel_id=channel_id,
        external_id=order.external_id,
        last_synced_at=now,
        sync_state=SyncState.OK,
        sync_error="",
        created_at=now,
        updated_at=now,
    )
    return row


def _newest_per_external_id(orders: Iterable[NormalizedOrder]) -> tuple[list[NormalizedOrder], list[NormalizedOrder]]:
    """One row per order (a batch may hold the same order twice, e.g. a webhook burst), sorted
    by external id so concurrent upserts lock rows in the same order and cannot deadlock.
    Also returns the older copies the batch superseded: they go on the timeline as ignored."""
    newest: dict[str, NormalizedOrder] = {}
    superseded: list[NormalizedOrder] = []
    for order in orders:
        held = newest.get(order.external_id)
        if held is None or order.source_updated_at >= held.source_updated_at:
            if held is not None:
                superseded.append(held)
            newest[order.external_id] = order
        else:
            superseded.append(order)
    return [newest[key] for key in sorted(newest)], superseded


@transaction.atomic
def orders_upsert(
    *,
    channel: Channel,
    orders: Sequence[NormalizedOrder],
    source: str,
    run: SyncRun | None = None,
    topic: str = "",
) -> UpsertResult:
    """Insert new orders and update held ones, with their lines and channel shipments, in a
    few set-based statements.

    The guard lives in the database (`ON CONFLICT ... DO UPDATE ... WHERE`), so a webhook racing
    a poll, or two workers, end with one row holding the newest data: an update whose
    `source_updated_at` is older than the stored one changes nothing and is put on the
    timeline as ignored. An equal timestamp does update, so a manual sync re-applies the
    current status mapping."""
    result = UpsertResult()
    batch, superseded = _newest_per_external_id(orders)
    if not batch:
        return result
    now = timezone.now()
    by_external_id = {o.external_id: o for o in batch}
    table = connection.ops.quote_name(Order._meta.db_table)
    guard = (
        f"{table}.source_updated_at IS NULL OR excluded.source_updated_at IS NULL "
        f"OR excluded.source_updated_at >= {table}.source_updated_at"
    )
    postgres = connection.vendor == "postgresql"
    ids: dict[str, int] = {}  # external id -> order id, from RETURNING
    for start in range(0, len(batch), UPSERT_CHUNK):
        chunk = batch[start : start + UPSERT_CHUNK]
        external_ids = [o.external_id for o in chunk]
        if not postgres:
            # SQLite writers are serialised (IMMEDIATE transactions), so this read is exact.
            held = set(
                Order.objects.filter(channel=channel, external_id__in=external_ids).values_list(
                    "external_id", flat=True
                )
            )
        rows = upsert_returning(
            Order,
            [_order_row(channel.pk, o, now) for o in chunk],
            conflict_fields=("channel", "external_id"),
            update_fields=ORDER_FIELDS + ("last_synced_at", "sync_state", "sync_error", "updated_at"),
            guard_sql=guard,
            returning=("id", "external_id"),
        )
        for row in rows:
            order_id, external_id = row[0], row[1]
            ids[external_id] = order_id
            inserted = row[2] if postgres else external_id not in held
            (result.created if inserted else result.updated).append(order_id)
        result.stale.extend(e for e in external_ids if e not in ids)
        _replace_lines(rows, by_external_id)
        _upsert_channel_shipments(rows, by_external_id)

    if result.stale:  # rows the guard refused return nothing: their ids are read back
        ids.update(Order.objects.filter(channel=channel, external_id__in=result.stale).values_list("external_id", "id"))
    result.stale.extend(o.external_id for o in superseded)
    _record_upsert_events(
        channel=channel,
        result=result,
        ids=ids,
        by_external_id=by_external_id,
        superseded=superseded,
        source=source,
        run=run,
        topic=topic,
    )
    return result


def _replace_lines(rows: list[tuple], by_external_id: dict[str, NormalizedOrder]) -> None:
    """Make each order's lines what the channel says, keeping line rows stable (upsert by the
    channel's line id) so shipments made here keep pointing at the lines they carry."""
    incoming = [
        OrderLine(
            order_id=row[0],
            external_id=line.external_id or f"pos-{position}",
            position=position,
            sku=line.sku[:255],
            title=line.title[:500],
            variant=line.variant[:255],
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for row in rows
        for position, line in enumerate(by_external_id[row[1]].lines)
    ]
    keep = {(line.order_id, line.external_id) for line in incoming}
    gone = [
        pk
        for pk, order_id, external_id in OrderLine.objects.filter(order_id__in=[row[0] for row in rows]).values_list(
            "pk", "order_id", "external_id"
        )
        if (order_id, external_id) not in keep
    ]
    if gone:
        OrderLine.objects.filter(pk__in=gone).delete()
    OrderLine.objects.bulk_create(
        incoming,
        update_conflicts=True,
        unique_fields=["order", "external_id"],
        update_fields=["position", "sku", "title", "variant", "quantity", "unit_price"],
        batch_size=500,
    )


def _upsert_channel_shipments(rows: list[tuple], by_external_id: dict[str, NormalizedOrder]) -> None:
    shipments = [
        Shipment(
            order_id=row[0],
            external_id=s.external_id,
            status=s.status[:40],
            carrier=s.carrier[:120],
            tracking_number=s.tracking_number[:255],
            tracking_url=s.tracking_url[:1000],
            shipped_at=s.shipped_at,
        )
        for row in rows
        for s in by_external_id[row[1]].shipments
        if s.external_id
    ]
    if shipments:
        Shipment.objects.bulk_create(
            shipments,
            update_conflicts=True,
            unique_fields=["order", "external_id"],
            update_fields=["status", "carrier", "tracking_number", "tracking_url", "shipped_at", "updated_at"],
            batch_size=500,
        )


def _stale_message(via: str, order: NormalizedOrder) -> str:
    return (
        f"Ignored an older update from {via}: the channel's copy dated "
        f"{order.source_updated_at.isoformat()} is older than the one we hold"
    )


def _record_upsert_events(*, channel, result, ids, by_external_id, superseded, source, run, topic) -> None:
    via = SOURCE_LABELS.get(source, source)
    if topic:
        via = f"{via} ({topic})"
    created = set(result.created)
    updated = set(result.updated)
    events = []

    def details(order: NormalizedOrder) -> dict:
        return {
            "source_updated_at": order.source_updated_at.isoformat(),
            "status": order.status,
            "payment_status": order.payment_status,
            "channel_status": order.channel_status,
        }

    for order in superseded:
        events.append(
            SyncEvent(
                order_id=ids[order.external_id],
                channel=channel,
                run=run,
                kind=SyncEvent.Kind.STALE_IGNORED,
                outcome=SyncEvent.Outcome.SKIPPED,
                source=source,
                message=_stale_message(via, order),
                details=details(order),
            )
        )
    for external_id, order_id in ids.items():
        order = by_external_id[external_id]
        if order_id in created:
            kind, outcome, message = SyncEvent.Kind.IMPORTED, SyncEvent.Outcome.SUCCESS, f"Imported from {via}"
        elif order_id in updated:
            kind, outcome, message = SyncEvent.Kind.UPDATED, SyncEvent.Outcome.SUCCESS, f"Updated from {via}"
        else:
            kind, outcome, message = SyncEvent.Kind.STALE_IGNORED, SyncEvent.Outcome.SKIPPED, _stale_message(via, order)
        events.append(
            SyncEvent(
                order_id=order_id,
                channel=channel,
                run=run,
                kind=kind,
                outcome=outcome,
                source=source,
                message=message,
                details=details(order),
            )
        )
    SyncEvent.objects.bulk_create(events, batch_size=500)


def order_mark_not_found(*, order: Order, source: str, message: str = "") -> None:
    now = timezone.now()
    Order.objects.filter(pk=order.pk).update(
        sync_state=SyncState.NOT_FOUND, last_synced_at=now, sync_error=message or "The channel no longer has this order"
    )
    SyncEvent.objects.create(
        order=order,
        channel_id=order.channel_id,
        kind=SyncEvent.Kind.NOT_FOUND,
        outcome=SyncEvent.Outcome.FAILURE,
        source=source,
        message=message or "The channel answered 404: the order was not found at the source",
    )


def order_record_sync_failure(*, order: Order, source: str, error: Exception, details: dict | None = None) -> None:
    message = getattr(error, "message", None) or str(error)
    Order.objects.filter(pk=order.pk).update(sync_state=SyncState.ERROR, sync_error=message)
    SyncEvent.objects.create(
        order=order,
        channel_id=order.channel_id,
        kind=SyncEvent.Kind.ERROR,
        outcome=SyncEvent.Outcome.FAILURE,
        source=source,
        message=f"Sync failed: {message}",
        details={"error": error.__class__.__name__, **(details or {})},
    )


def channel_event(
    *,
    channel: Channel,
    kind: str,
    outcome: str,
    message: str,
    source: str = "",
    run: SyncRun | None = None,
    details: dict | None = None,
) -> SyncEvent:
    """A timeline entry about the channel as a whole (a poll, a failed run, an auth error)."""
    return SyncEvent.objects.create(
        channel=channel, run=run, kind=kind, outcome=outcome, source=source, message=message, details=details or {}
    )
