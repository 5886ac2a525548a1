"""Staff actions that flow back to the channel: mark shipped, add tracking, cancel.

Each action changes our order and records an `OutboundOperation` in one transaction; a task
pushes it through the channel's adapter (`operation_push`), recording every attempt as a
`PushAttempt` row and applying the product's retry policy: up to 3 attempts on 429, 503,
timeouts and connection errors, waiting attempt x 1.5 s (`Retry-After` when longer); 401/403
mark the channel for reconnection and stop; 400/422 stop with the channel's message. When the
last attempt fails the order shows "Requires shipment synchronization" and staff are told.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from channels import http as channel_http
from channels.adapters import ADAPTERS
from channels.adapters.base import (
    AuthExpired,
    CancelPush,
    Capability,
    ChannelError,
    PushResult,
    ShipmentPush,
    ShipmentPushLine,
    TrackingPush,
)
from channels.services import channel_call, channel_record_failure, channel_record_success
from fenicia.notifications import notification_send
from fenicia.tasks import enqueue

from .models import (
    FulfillmentStatus,
    Order,
    OrderLine,
    OrderStatus,
    OutboundOperation,
    PushAttempt,
    Shipment,
    ShipmentLine,
    SyncEvent,
)

logger = logging.getLogger(__name__)

PUSH_TASK = "orders.tasks.push_operation"
PUSH_BATCH_TASK = "orders.tasks.push_operations"
PUSH_LEASE = timedelta(minutes=5)
BULK_BATCH = 100
CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "staff", "other")
ACTION_CAPABILITY = {
    OutboundOperation.Kind.SHIP: Capability.SHIP,
    OutboundOperation.Kind.TRACKING: Capability.ADD_TRACKING,
    OutboundOperation.Kind.CANCEL: Capability.CANCEL,
}
CAPABILITY_WORDS = {
    Capability.SHIP: "marking orders shipped",
    Capability.ADD_TRACKING: "adding tracking to a shipment",
    Capability.CANCEL: "cancelling orders",
}


class ActionRefused(Exception):
    """The action can't be taken; `message` says why in words staff understand. `field` names
    the input at fault, if any; `conflict` is True when the order's state is the reason."""

    def __init__(self, message: str, *, field: str = "", conflict: bool = False):
        super().__init__(message)
        self.message = message
        self.field = field
        self.conflict = conflict


@dataclass(frozen=True)
class ShipLine:
    order_line_id: int
    quantity: int


# -- what can be done ------------------------------------------------------------------------
def channel_supports(order: Order, capability: Capability) -> bool:
    adapter_class = ADAPTERS.get(order.channel.kind)
    return adapter_class is not None and capability in adapter_class.capabilities


def _unsupported_reason(order: Order, capability: Capability) -> str:
    if channel_supports(order, capability):
        return ""
    return f"{order.channel.get_kind_display()} does not support {CAPABILITY_WORDS[capability]} through its API."


def remaining_quantities(order: Order) -> dict[int, int]:
    """Per order line: how many units are not yet in a shipment created here. When the channel
    says the order is fulfilled, nothing remains."""
    if order.fulfillment_status == FulfillmentStatus.FULFILLED:
        return {line.pk: 0 for line in order.lines.all()}
    shipped = dict(
        ShipmentLine.objects.filter(order_line__order=order)
        .values("order_line")
        .annotate(n=Sum("quantity"))
        .values_list("order_line", "n")
    )
    return {line.pk: max(0, line.quantity - shipped.get(line.pk, 0)) for line in order.lines.all()}


def action_availability(order: Order) -> dict[str, str]:
    """For each action, '' when it can be taken, else the reason it can't (UI and API say so)."""
    ship = _unsupported_reason(order, Capability.SHIP)
    if not ship and order.status == OrderStatus.CANCELLED:
        ship = "The order is cancelled."
    elif not ship and not any(remaining_quantities(order).values()):
        ship = "Every line has already been shipped."
    tracking = _unsupported_reason(order, Capability.ADD_TRACKING)
    if not tracking and not order.shipments.exists():
        tracking = "The order has no shipment yet."
    cancel = _unsupported_reason(order, Capability.CANCEL)
    if not cancel:
        cancel = _cancel_refusal(order)
    return {"ship": ship, "tracking": tracking, "cancel": cancel}


def _cancel_refusal(order: Order) -> str:
    if order.status == OrderStatus.CANCELLED:
        return "The order is already cancelled."
    if (
        order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        or order.fulfillment_status != FulfillmentStatus.UNFULFILLED
        or order.shipments.exists()
    ):
        return "The order has shipped (in full or in part); it can no longer be cancelled."
    return ""


# -- the actions ------------------------------------------------------------------------------
def _require(order: Order, capability: Capability) -> None:
    reason = _unsupported_reason(order, capability)
    if reason:
        raise ActionRefused(reason, conflict=True)


def _event(order: Order, *, kind: str, outcome: str, message: str, details: dict | None = None) -> None:
    SyncEvent.objects.create(
        order=order,
        channel_id=order.channel_id,
        kind=kind,
        outcome=outcome,
        source="action",
        message=message,
        details=details or {},
    )


def _queue(operation: OutboundOperation) -> None:
    enqueue(PUSH_TASK, operation.pk)


@transaction.atomic
def order_ship(
    *,
    order: Order,
    carrier: str,
    tracking_number: str = "",
    tracking_url: str = "",
    lines: list[ShipLine] | None = None,
    notify_customer: bool = False,
    label: tuple[bytes, str, str] | None = None,
    user=None,
) -> Shipment:
    """Mark (some of) the order shipped. `lines` defaults to everything not yet shipped; a
    partial shipment names lines and quantities. `label` is (content, file name, content type)."""
    order = Order.objects.select_for_update().select_related("channel").get(pk=order.pk)
    _require(order, Capability.SHIP)
    if order.status == OrderStatus.CANCELLED:
        raise ActionRefused("A cancelled order can't be shipped.", conflict=True)
    if not carrier.strip():
        raise ActionRefused("Say which carrier carries the shipment.", field="carrier")
    remaining = remaining_quantities(order)
    order_lines = {line.pk: line for line in order.lines.all()}
    if lines is None:
        wanted = {line_id: qty for line_id, qty in remaining.items() if qty > 0}
    else:
        wanted = {}
        for item in lines:
            if item.order_line_id not in order_lines:
                raise ActionRefused(f"Line {item.order_line_id} is not a line of this order.", field="lines")
            if item.quantity < 0:
                raise ActionRefused("Quantities can't be negative.", field="lines")
            if item.quantity:
                wanted[item.order_line_id] = wanted.get(item.order_line_id, 0) + item.quantity
    if not wanted:
        raise ActionRefused("A shipment must contain at least one line.", field="lines")
    for line_id, quantity in wanted.items():
        if quantity > remaining[line_id]:
            line = order_lines[line_id]
            raise ActionRefused(
                f"Only {remaining[line_id]} of {line.sku or line.title} remain to ship; {quantity} requested.",
                field="lines",
            )
    shipment = Shipment.objects.create(
        order=order,
        source=Shipment.Source.FENICIA,
        push_state=Shipment.PushState.PENDING,
        carrier=carrier.strip()[:120],
        tracking_number=tracking_number.strip()[:255],
        tracking_url=tracking_url.strip()[:1000],
        notify_customer=notify_customer,
        shipped_at=timezone.now(),
    )
    ShipmentLine.objects.bulk_create(
        [ShipmentLine(shipment=shipment, order_line_id=line_id, quantity=qty) for line_id, qty in wanted.items()]
    )
    if label is not None:
        shipment_attach_label(shipment=shipment, content=label[0], filename=label[1], content_type=label[2])
    _refresh_fulfillment(order)
    operation = OutboundOperation.objects.create(
        order=order,
        shipment=shipment,
        kind=OutboundOperation.Kind.SHIP,
        created_by=user if user and user.is_authenticated else None,
        payload={"carrier": shipment.carrier, "tracking_number": shipment.tracking_number},
    )
    units = sum(wanted.values())
    _event(
        order,
        kind=SyncEvent.Kind.ACTION,
        outcome=SyncEvent.Outcome.INFO,
        message=f"Marked shipped ({units} unit{'s' if units != 1 else ''}, {shipment.carrier}"
        + (f" {shipment.tracking_number}" if shipment.tracking_number else "")
        + f"); pushing to {order.channel.get_kind_display()}",
        details={
            "shipment_id": shipment.pk,
            "operation_id": operation.pk,
            "lines": {str(k): v for k, v in wanted.items()},
        },
    )
    _queue(operation)
    return shipment


def _refresh_fulfillment(order: Order) -> None:
    remaining = remaining_quantities(order)
    total = sum(line.quantity for line in order.lines.all())
    left = sum(remaining.values())
    if left == 0 and total > 0:
        order.fulfillment_status = FulfillmentStatus.FULFILLED
        if order.status not in (OrderStatus.DELIVERED, OrderStatus.CANCELLED):
            order.status = OrderStatus.SHIPPED
    elif left < total:
        order.fulfillment_status = FulfillmentStatus.PARTIALLY_FULFILLED
    order.save(update_fields=["fulfillment_status", "status", "updated_at"])


@transaction.atomic
def shipment_add_tracking(
    *,
    shipment: Shipment,
    carrier: str,
    tracking_number: str,
    tracking_url: str = "",
    notify_customer: bool = False,
    user=None,
) -> OutboundOperation | None:
    """Add or change a shipment's tracking. While the shipment itself is still waiting to reach
    the channel, the tracking simply travels with it (no second operation)."""
    shipment = Shipment.objects.select_for_update().select_related("order__channel").get(pk=shipment.pk)
    order = shipment.order
    _require(order, Capability.ADD_TRACKING)
    if not tracking_number.strip():
        raise ActionRefused("A tracking number is required.", field="tracking_number")
    shipment.carrier = (carrier or shipment.carrier).strip()[:120]
    shipment.tracking_number = tracking_number.strip()[:255]
    shipment.tracking_url = tracking_url.strip()[:1000]
    shipment.save(update_fields=["carrier", "tracking_number", "tracking_url", "updated_at"])
    pending_ship = shipment.operations.filter(
        kind=OutboundOperation.Kind.SHIP,
        state__in=[OutboundOperation.State.PENDING, OutboundOperation.State.FAILED],
    ).first()
    if pending_ship is not None:
        _event(
            order,
            kind=SyncEvent.Kind.ACTION,
            outcome=SyncEvent.Outcome.INFO,
            message=f"Tracking {shipment.tracking_number} added; it goes with the shipment's pending push",
            details={"shipment_id": shipment.pk},
        )
        return None
    if not shipment.external_id:
        raise ActionRefused("This shipment is not known to the channel, so its tracking can't be updated there.")
    operation = OutboundOperation.objects.create(
        order=order,
        shipment=shipment,
        kind=OutboundOperation.Kind.TRACKING,
        created_by=user if user and user.is_authenticated else None,
        payload={"notify_customer": notify_customer},
    )
    Shipment.objects.filter(pk=shipment.pk).update(push_state=Shipment.PushState.PENDING)
    _event(
        order,
        kind=SyncEvent.Kind.ACTION,
        outcome=SyncEvent.Outcome.INFO,
        message=f"Tracking {shipment.carrier} {shipment.tracking_number} added; pushing to "
        f"{order.channel.get_kind_display()}",
        details={"shipment_id": shipment.pk, "operation_id": operation.pk},
    )
    _queue(operation)
    return operation


@transaction.atomic
def order_cancel(
    *,
    order: Order,
    reason: str = "other",
    notify_customer: bool = False,
    restock: bool = True,
    staff_note: str = "",
    user=None,
) -> OutboundOperation:
    order = Order.objects.select_for_update().select_related("channel").get(pk=order.pk)
    _require(order, Capability.CANCEL)
    if reason not in CANCEL_REASONS:
        raise ActionRefused(f"The reason must be one of: {', '.join(CANCEL_REASONS)}.", field="reason")
    refusal = _cancel_refusal(order)
    if refusal:
        raise ActionRefused(refusal, conflict=True)
    order.status = OrderStatus.CANCELLED
    order.save(update_fields=["status", "updated_at"])
    operation = OutboundOperation.objects.create(
        order=order,
        kind=OutboundOperation.Kind.CANCEL,
        created_by=user if user and user.is_authenticated else None,
        payload={"reason": reason, "notify_customer": notify_customer, "restock": restock, "staff_note": staff_note},
    )
    _event(
        order,
        kind=SyncEvent.Kind.ACTION,
        outcome=SyncEvent.Outcome.INFO,
        message=f"Cancelled (reason: {reason}); pushing to {order.channel.get_kind_display()}",
        details={"operation_id": operation.pk},
    )
    _queue(operation)
    return operation


# -- labels ----------------------------------------------------------------------------------
def html_to_pdf(html: str) -> bytes:
    from xhtml2pdf import pisa

    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out)
    if result.err:
        raise ActionRefused("The HTML label could not be converted to PDF.", field="label")
    return out.getvalue()


def shipment_attach_label(*, shipment: Shipment, content: bytes, filename: str, content_type: str = "") -> Shipment:
    """Store a shipping label as the shipment's PDF attachment. HTML labels are converted."""
    name = (filename or "label").rsplit("/", 1)[-1]
    if content.startswith(b"%PDF-"):
        pdf = content
    elif "html" in content_type or name.lower().endswith((".html", ".htm")) or content.lstrip()[:1] == b"<":
        pdf = html_to_pdf(content.decode("utf-8", errors="replace"))
        name = name.rsplit(".", 1)[0] + ".pdf"
    else:
        raise ActionRefused("A label must be a PDF or an HTML document.", field="label")
    if not name.lower().endswith(".pdf"):
        name += ".pdf"
    shipment.label.save(f"shipment-{shipment.pk}-{name}", ContentFile(pdf), save=True)
    _event(
        shipment.order,
        kind=SyncEvent.Kind.LABEL,
        outcome=SyncEvent.Outcome.INFO,
        message=f"Shipping label {name} attached ({len(pdf):,} bytes)",
        details={"shipment_id": shipment.pk},
    )
    return shipment


# -- pushing ---------------------------------------------------------------------------------
def _call_for(operation: OutboundOperation):
    order = operation.order
    shipment = operation.shipment
    payload = operation.payload or {}
    if operation.kind == OutboundOperation.Kind.SHIP:
        if not shipment.lines.exists():
            raise ActionRefused("Only shipments that contain at least one line can be pushed.")
        push = ShipmentPush(
            order_external_id=order.external_id,
            lines=tuple(
                ShipmentPushLine(line_external_id=sl.order_line.external_id, quantity=sl.quantity)
                for sl in shipment.lines.select_related("order_line")
            ),
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            notify_customer=shipment.notify_customer,
            reference=f"fenicia-shipment-{shipment.pk}",
        )
        return lambda adapter: adapter.push_shipment(push)
    if operation.kind == OutboundOperation.Kind.TRACKING:
        push = TrackingPush(
            order_external_id=order.external_id,
            shipment_external_id=shipment.external_id or "",
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            notify_customer=bool(payload.get("notify_customer")),
        )
        return lambda adapter: adapter.push_tracking(push)
    push = CancelPush(
        order_external_id=order.external_id,
        reason=payload.get("reason", "other"),
        notify_customer=bool(payload.get("notify_customer")),
        restock=bool(payload.get("restock", True)),
        staff_note=payload.get("staff_note", ""),
    )
    return lambda adapter: adapter.cancel_order(push)


def operation_push(*, operation_id: int) -> str:
    """Push one operation to its channel, attempt by attempt. Claimed with a lease so two
    workers (or a redelivered task) push it once. Returns the final state."""
    now = timezone.now()
    claimed = OutboundOperation.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        pk=operation_id,
        state=OutboundOperation.State.PENDING,
    ).update(state=OutboundOperation.State.IN_PROGRESS, lease_until=now + PUSH_LEASE)
    if not claimed:
        return "skipped"
    operation = OutboundOperation.objects.select_related("order__channel", "shipment").get(pk=operation_id)
    channel = operation.order.channel
    try:
        call = _call_for(operation)
    except ActionRefused as exc:
        return _failed(operation, exc.message, error_class="ActionRefused")
    http = channel_http.HttpClient(attempts=1)  # this loop owns the retries, one row per attempt
    attempts = settings.FENICIA_HTTP_ATTEMPTS
    for attempt in range(1, attempts + 1):
        row = PushAttempt.objects.create(operation=operation, number=operation.attempts + 1, started_at=timezone.now())
        OutboundOperation.objects.filter(pk=operation.pk).update(attempts=row.number)
        operation.attempts = row.number
        started = timezone.now()
        try:
            result = channel_call(channel, call, http=http)
        except ActionRefused as exc:
            row.message, row.error_class, row.finished_at = exc.message, "ActionRefused", timezone.now()
            row.save()
            return _failed(operation, exc.message, error_class="ActionRefused")
        except ChannelError as exc:
            row.finished_at = timezone.now()
            row.duration_ms = (row.finished_at - started).total_seconds() * 1000
            row.http_status, row.error_class, row.message = exc.status, exc.__class__.__name__, exc.message[:2000]
            if exc.retryable and attempt < attempts:
                row.waited_s = channel_http.retry_wait(attempt, getattr(exc, "retry_after", None))
                row.save()
                channel_http._sleep(row.waited_s)
                continue
            row.save()
            if isinstance(exc, AuthExpired):
                channel_record_failure(channel_id=channel.pk, error=exc)
            return _failed(operation, exc.message, error_class=exc.__class__.__name__)
        except Exception as exc:  # a bug must not leave the operation leased forever
            row.finished_at, row.error_class, row.message = timezone.now(), exc.__class__.__name__, repr(exc)[:2000]
            row.save()
            _failed(operation, f"Unexpected error: {exc!r}", error_class=exc.__class__.__name__)
            raise
        row.finished_at = timezone.now()
        row.duration_ms = (row.finished_at - started).total_seconds() * 1000
        row.succeeded = True
        row.message = "Already at the channel" if result.already_done else "Accepted"
        row.save()
        channel_record_success(channel_id=channel.pk)
        return _succeeded(operation, result)
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def _succeeded(operation: OutboundOperation, result: PushResult) -> str:
    now = timezone.now()
    operation.state, operation.completed_at, operation.lease_until = OutboundOperation.State.SUCCEEDED, now, None
    operation.last_error = ""
    operation.result = {"external_id": result.external_id, "already_done": result.already_done, **result.details}
    operation.save()
    order = operation.order
    channel_name = order.channel.get_kind_display()
    shipment = operation.shipment
    if shipment is not None:
        if operation.kind == OutboundOperation.Kind.SHIP and result.external_id:
            # The channel's own copy of this fulfilment may already have arrived by webhook:
            # ours carries the lines and the label, so it takes over the channel's id.
            Shipment.objects.filter(order=order, external_id=result.external_id).exclude(pk=shipment.pk).delete()
            shipment.external_id = result.external_id
        shipment.push_state = Shipment.PushState.ACCEPTED
        shipment.save(update_fields=["external_id", "push_state", "updated_at"])
    verb = {
        OutboundOperation.Kind.SHIP: "Shipment accepted by",
        OutboundOperation.Kind.TRACKING: "Tracking accepted by",
        OutboundOperation.Kind.CANCEL: "Cancellation accepted by",
    }[operation.kind]
    message = f"{verb} {channel_name}"
    if result.already_done:
        message += " (it was already there: nothing created twice)"
    if result.external_id and operation.kind == OutboundOperation.Kind.SHIP:
        message += f", fulfilment {result.external_id}"
    _event(
        order,
        kind=SyncEvent.Kind.PUSH,
        outcome=SyncEvent.Outcome.SUCCESS,
        message=message,
        details={"operation_id": operation.pk, "attempts": operation.attempts, **operation.result},
    )
    _refresh_requires_sync(order)
    return operation.state


@transaction.atomic
def _failed(operation: OutboundOperation, message: str, *, error_class: str) -> str:
    now = timezone.now()
    operation.state, operation.completed_at, operation.lease_until = OutboundOperation.State.FAILED, now, None
    operation.last_error = message
    operation.save()
    order = operation.order
    if operation.shipment_id:
        Shipment.objects.filter(pk=operation.shipment_id).update(push_state=Shipment.PushState.FAILED)
    attempts = list(operation.push_attempts.values("number", "http_status", "error_class", "message", "waited_s"))
    _event(
        order,
        kind=SyncEvent.Kind.PUSH,
        outcome=SyncEvent.Outcome.FAILURE,
        message=f"{operation.get_kind_display()} could not be pushed to {order.channel.get_kind_display()} "
        f"after {operation.attempts} attempt{'s' if operation.attempts != 1 else ''}: {message}",
        details={"operation_id": operation.pk, "error": error_class, "attempts": attempts},
    )
    _refresh_requires_sync(order)
    notification_send(
        title=f"Order {order}: requires shipment synchronization",
        message=f"{operation.get_kind_display()} failed at {order.channel.name}: {message}",
        link=order.get_absolute_url(),
        dedupe_key=f"push-failed-{order.pk}",
    )
    return operation.state


def _refresh_requires_sync(order: Order) -> None:
    needs = order.operations.filter(state=OutboundOperation.State.FAILED).exists()
    Order.objects.filter(pk=order.pk).update(requires_shipment_sync=needs)


# -- manual re-sync of shipments ----------------------------------------------------------------
@transaction.atomic
def operations_requeue(*, operations, user=None) -> list[int]:
    """Put failed (or never started) operations back in the queue; returns their ids."""
    ids = []
    for operation in operations.select_for_update().filter(
        state__in=[OutboundOperation.State.FAILED, OutboundOperation.State.PENDING]
    ):
        operation.state, operation.lease_until, operation.completed_at = OutboundOperation.State.PENDING, None, None
        operation.save(update_fields=["state", "lease_until", "completed_at", "updated_at"])
        if operation.shipment_id:
            Shipment.objects.filter(pk=operation.shipment_id).update(push_state=Shipment.PushState.PENDING)
        ids.append(operation.pk)
        _event(
            operation.order,
            kind=SyncEvent.Kind.PUSH,
            outcome=SyncEvent.Outcome.INFO,
            message=f"{operation.get_kind_display()} queued again for the channel"
            + (f" by {user.get_username()}" if user and user.is_authenticated else ""),
            details={"operation_id": operation.pk},
        )
    return ids


def shipment_sync(*, shipment: Shipment, user=None) -> int:
    """ "Sync shipment": push again whatever of this shipment the channel hasn't accepted."""
    ids = operations_requeue(operations=shipment.operations.all(), user=user)
    for operation_id in ids:
        enqueue(PUSH_TASK, operation_id)
    return len(ids)


def shipments_sync_bulk(*, order_ids: list[int] | None = None, user=None) -> int:
    """ "Sync my shipments": everything pending or failed (optionally only for some orders),
    pushed by tasks of at most 100 operations each."""
    operations = OutboundOperation.objects.filter(
        state__in=[OutboundOperation.State.FAILED, OutboundOperation.State.PENDING]
    )
    if order_ids is not None:
        operations = operations.filter(order_id__in=order_ids)
    ids = operations_requeue(operations=operations, user=user)
    for start in range(0, len(ids), BULK_BATCH):
        enqueue(PUSH_BATCH_TASK, ids[start : start + BULK_BATCH])
    return len(ids)


def operations_push(*, operation_ids: list[int]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for operation_id in operation_ids[:BULK_BATCH]:
        state = operation_push(operation_id=operation_id)
        outcomes[state] = outcomes.get(state, 0) + 1
    return outcomes


def order_lines_for_shipping(order: Order) -> list[tuple[OrderLine, int]]:
    """Lines with the quantity still to ship, for forms."""
    remaining = remaining_quantities(order)
    return [(line, remaining.get(line.pk, 0)) for line in order.lines.all()]
