"""Order pages: the list (filters, search, bulk re-sync, bulk ship and shipment sync) and the
detail page (timeline, Sync, and the actions that flow back to the channel: ship, tracking,
cancel, labels, shipment sync)."""

from __future__ import annotations

import json
import mimetypes
from collections import defaultdict
from datetime import timedelta
from pathlib import PurePosixPath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from channels.selectors import runs_by_ids

from . import actions, selectors, sync
from .actions import ActionRefused
from .forms import (
    COMMON_CARRIERS,
    BulkResyncForm,
    BulkShipForm,
    CancelForm,
    OrderFilterForm,
    ShipForm,
    ShipmentTrackingForm,
    form_refusal,
)
from .models import Order, OutboundOperation, Shipment, ShipmentLine, SyncEvent

PAGE_SIZE = 50
# After "Sync", the timeline polls while the request is the newest entry, but not forever:
# a task stuck in a queue must not keep every open tab polling.
TIMELINE_POLL_FOR = timedelta(seconds=20)
PUSH_POLL_FAST_FOR = timedelta(minutes=2)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


PENDING_PUSH = [OutboundOperation.State.PENDING, OutboundOperation.State.IN_PROGRESS]


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    filters = form.to_filters()
    # Per row, whether shipments wait for the channel or were accepted: two EXISTS in the one
    # query on the (push_state, order) index, so the page stays at a constant query count.
    orders = selectors.order_list(filters).annotate(
        push_pending=Exists(Shipment.objects.filter(order=OuterRef("pk"), push_state=Shipment.PushState.PENDING)),
        push_accepted=Exists(Shipment.objects.filter(order=OuterRef("pk"), push_state=Shipment.PushState.ACCEPTED)),
    )
    page = Paginator(orders, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "orders/order_list.html",
        {
            "form": form,
            "filters": filters,
            "page": page,
            "carriers": COMMON_CARRIERS,
            "filtered": any(
                [filters.channel, filters.status, filters.payment_status, filters.errors, filters.q, filters.shipments]
            ),
        },
    )


@login_required
@require_POST
def order_resync(request: HttpRequest) -> HttpResponse:
    """Bulk "Re-sync selected": one run per channel. htmx gets the runs' live progress."""
    back = _safe_next(request, reverse("orders:list"))
    form = BulkResyncForm(request.POST)
    if not form.is_valid():
        error = form.errors["order_ids"][0]
        if request.htmx:
            return render(request, "orders/order_list.html#resync-runs", _runs_context([], error=error))
        messages.error(request, error)
        return redirect(back)
    runs = sync.orders_resync_start(order_ids=form.cleaned_data["order_ids"], user=request.user)
    if request.htmx:
        return render(request, "orders/order_list.html#resync-runs", _runs_context([r.pk for r in runs]))
    orders = sum(r.total or 0 for r in runs)
    messages.success(
        request,
        f"Re-sync started for {orders} order{'s' if orders != 1 else ''} "
        f"in {len(runs)} run{'s' if len(runs) != 1 else ''}.",
    )
    return redirect(back)


@login_required
@require_GET
def resync_progress(request: HttpRequest) -> HttpResponse:
    """The bulk re-sync progress partial; it polls itself while any of its runs is active."""
    try:
        run_ids = [int(i) for i in request.GET.getlist("run")][:50]
    except ValueError:
        raise Http404("Bad run id") from None
    return render(request, "orders/order_list.html#resync-runs", _runs_context(run_ids))


def _runs_context(run_ids: list[int], *, error: str = "") -> dict:
    runs = runs_by_ids(run_ids) if run_ids else []
    return {"runs": runs, "runs_active": any(run.is_active for run in runs), "error": error}


def _timeline_context(order: Order) -> dict:
    events = list(selectors.order_timeline(order))
    for event in events:
        event.details_json = _pretty_json(event.details) if event.details else ""
    newest = events[0] if events else None
    polling = bool(
        newest
        and newest.kind == SyncEvent.Kind.SYNCED
        and newest.outcome == SyncEvent.Outcome.INFO
        and newest.created_at > timezone.now() - TIMELINE_POLL_FOR
    )
    return {"order": order, "events": events, "polling": polling, **_state_context(order)}


def _state_context(order: Order) -> dict:
    """The state bar's extra: the last push error behind the "Requires shipment
    synchronization" banner."""
    push_error = ""
    if order.requires_shipment_sync:
        push_error = (
            order.operations.filter(state=OutboundOperation.State.FAILED)
            .order_by("-completed_at", "-id")
            .values_list("last_error", flat=True)
            .first()
        ) or ""
    return {"push_error": push_error}


@login_required
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = selectors.get_order_for_user(request.user, order_id)
    return render(request, "orders/order_detail.html", {**_timeline_context(order), **_order_context(order)})


def _order_context(
    order: Order,
    *,
    ship_form: ShipForm | None = None,
    cancel_form: CancelForm | None = None,
    tracking_forms: dict[int, ShipmentTrackingForm] | None = None,
) -> dict:
    availability = actions.action_availability(order)
    if ship_form is None and not availability["ship"]:
        ship_form = ShipForm(lines=actions.order_lines_for_shipping(order))
    if cancel_form is None and not availability["cancel"]:
        cancel_form = CancelForm()
    return {
        "raw_json": _pretty_json(order.raw),
        "availability": availability,
        "ship_form": ship_form,
        "cancel_form": cancel_form,
        "carriers": COMMON_CARRIERS,
        "flag_unknown_skus": selectors.catalogue_in_use(),
        **_shipments_context(order, availability=availability, tracking_forms=tracking_forms or {}),
    }


def _shipments_context(order: Order, *, availability: dict, tracking_forms: dict[int, ShipmentTrackingForm]) -> dict:
    """Shipments with their lines, label, push state and every push attempt (a fixed number of
    queries), plus the operations that belong to no shipment (a cancellation)."""
    shipments = list(order.shipments.all())
    lines: dict[int, list[ShipmentLine]] = defaultdict(list)
    for shipment_line in (
        ShipmentLine.objects.filter(shipment__order=order)
        .select_related("order_line")
        .order_by("order_line__position", "order_line_id")
    ):
        lines[shipment_line.shipment_id].append(shipment_line)
    operations = list(
        order.operations.select_related("created_by").prefetch_related("push_attempts").order_by("created_at", "id")
    )
    by_shipment: dict[int, list[OutboundOperation]] = defaultdict(list)
    order_operations = []
    for operation in operations:
        operation.pushing = operation.state in PENDING_PUSH
        if operation.shipment_id:
            by_shipment[operation.shipment_id].append(operation)
        else:
            order_operations.append(operation)
    for shipment in shipments:
        shipment.status_label = shipment.status.replace("_", " ").capitalize()  # "in_transit" -> "In transit"
        shipment.shipped_lines = lines.get(shipment.pk, [])
        shipment.push_operations = by_shipment.get(shipment.pk, [])
        shipment.attempt_count = sum(len(op.push_attempts.all()) for op in shipment.push_operations)
        shipment.can_sync = shipment.push_state in (Shipment.PushState.PENDING, Shipment.PushState.FAILED)
        shipment.label_filename = PurePosixPath(shipment.label.name).name if shipment.label else ""
        shipment.tracking_form = tracking_forms.get(shipment.pk) or ShipmentTrackingForm(
            prefix=f"s{shipment.pk}",
            initial={
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
            },
        )
    pending = [op for op in operations if op.pushing]
    # Poll briskly while a push is under way (retries wait seconds, not minutes); a push
    # waiting on a stopped worker is still watched, just less often.
    fresh = any(op.updated_at > timezone.now() - PUSH_POLL_FAST_FOR for op in pending)
    return {
        "shipments": shipments,
        "order_operations": order_operations,
        "pushing": bool(pending),
        "push_poll_every": "2s" if fresh else "15s",
        "tracking_unavailable": availability["tracking"] if shipments else "",
    }


@login_required
@require_GET
def order_shipments(request: HttpRequest, order_id: int) -> HttpResponse:
    """The shipments card, polled while a push is pending; once none is, the state bar and
    the timeline come along (out of band) so the page shows the outcome."""
    order = selectors.get_order_for_user(request.user, order_id)
    availability = actions.action_availability(order)
    context = {"order": order, **_shipments_context(order, availability=availability, tracking_forms={})}
    if not context["pushing"]:
        context.update(_timeline_context(order))
    context.update(oob=True, timeline_oob=True)
    return render(request, "orders/order_detail.html#shipments-poll", context)


@login_required
@require_POST
def order_sync(request: HttpRequest, order_id: int) -> HttpResponse:
    """The Sync button: the timeline records the request at once and a task reads the order."""
    order = selectors.get_order_for_user(request.user, order_id)
    sync.order_sync_request(order=order, source="manual")
    if request.htmx:
        # Re-read: when the task ran at once (an eager worker) the header shows its result.
        return _timeline_response(request, selectors.get_order_for_user(request.user, order_id))
    messages.success(request, "Sync requested. The timeline shows the result when it arrives.")
    return redirect(order)


@login_required
@require_GET
def order_timeline(request: HttpRequest, order_id: int) -> HttpResponse:
    return _timeline_response(request, selectors.get_order_for_user(request.user, order_id))


def _timeline_response(request: HttpRequest, order: Order) -> HttpResponse:
    """The timeline, and out of band the order's state bar; once the result is in (polling
    over) also the lines, shipments, actions and side cards, which the sync may have changed."""
    context = {**_timeline_context(order), "oob": True}
    if not context["polling"]:
        context.update(_order_context(order))
    return render(request, "orders/order_detail.html#timeline-update", context)


# -- actions: ship, tracking, cancel, shipment sync, labels -------------------------------------
def _action_done(
    request: HttpRequest,
    order_id: int,
    *,
    message: str = "",
    error: str = "",
    area: str = "actions",
    conflict: bool = False,
    **forms,
) -> HttpResponse:
    """One answer for every action. htmx: the actions card, state bar, shipments and timeline,
    all out of band, re-read after the change, with the outcome next to the form that caused
    it. Without JS: a redirect to the order with a flash message on success; the whole page
    with the errors in place (400, or 409 when the order's state refused it) otherwise."""
    order = selectors.get_order_for_user(request.user, order_id)
    failed = bool(error) or any(form.errors for form in _forms_of(forms))
    if not request.htmx and not failed:
        if message:
            messages.success(request, message)
        return redirect(order)
    context = {
        **_timeline_context(order),
        **_order_context(order, **forms),
        f"{area}_message": "" if failed else message,
        f"{area}_error": error,
    }
    if request.htmx:
        context.update(oob=True, timeline_oob=True)
        return render(request, "orders/order_detail.html#order-update", context)
    return render(request, "orders/order_detail.html", context, status=409 if conflict else 400)


def _forms_of(forms: dict) -> list:
    found = []
    for value in forms.values():
        if isinstance(value, dict):
            found.extend(value.values())
        elif value is not None:
            found.append(value)
    return found


def _shipment_of(order: Order, shipment_id: int) -> Shipment:
    return get_object_or_404(Shipment, pk=shipment_id, order=order)


@login_required
@require_POST
def order_ship(request: HttpRequest, order_id: int) -> HttpResponse:
    """ "Mark as shipped": a shipment of the chosen quantities, pushed to the channel by a task."""
    order = selectors.get_order_for_user(request.user, order_id)
    unavailable = actions.action_availability(order)["ship"]
    if unavailable:  # e.g. a page opened before the order shipped or was cancelled
        return _action_done(request, order_id, error=unavailable, conflict=True)
    form = ShipForm(request.POST, request.FILES, lines=actions.order_lines_for_shipping(order))
    if not form.is_valid():
        return _action_done(request, order_id, ship_form=form)
    data = form.cleaned_data
    try:
        shipment = actions.order_ship(
            order=order,
            carrier=data["carrier"],
            tracking_number=data["tracking_number"],
            tracking_url=data["tracking_url"],
            lines=form.ship_lines(),
            notify_customer=data["notify_customer"],
            label=form.label_upload(),
            user=request.user,
        )
    except ActionRefused as exc:
        if exc.field and (exc.field in form.fields):
            form_refusal(form, exc)
            return _action_done(request, order_id, ship_form=form)
        return _action_done(request, order_id, error=exc.message, conflict=exc.conflict, ship_form=form)
    units = sum(line.quantity for line in form.ship_lines())
    return _action_done(
        request,
        order_id,
        message=f"Marked {units} unit{'s' if units != 1 else ''} shipped with {shipment.carrier}"
        + (f" ({shipment.tracking_number})" if shipment.tracking_number else "")
        + f". Pushing the shipment to {order.channel.get_kind_display()}…",
    )


@login_required
@require_POST
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    order = selectors.get_order_for_user(request.user, order_id)
    form = CancelForm(request.POST)
    if not form.is_valid():
        return _action_done(request, order_id, cancel_form=form)
    try:
        actions.order_cancel(order=order, user=request.user, **form.cleaned_data)
    except ActionRefused as exc:
        if exc.field and exc.field in form.fields:
            form_refusal(form, exc)
            return _action_done(request, order_id, cancel_form=form)
        return _action_done(request, order_id, error=exc.message, conflict=exc.conflict)
    return _action_done(
        request, order_id, message=f"Order cancelled. Pushing the cancellation to {order.channel.get_kind_display()}…"
    )


@login_required
@require_POST
def shipment_tracking(request: HttpRequest, order_id: int, shipment_id: int) -> HttpResponse:
    """ "Add tracking" on one shipment."""
    order = selectors.get_order_for_user(request.user, order_id)
    shipment = _shipment_of(order, shipment_id)
    form = ShipmentTrackingForm(request.POST, prefix=f"s{shipment.pk}")
    if form.is_valid():
        try:
            operation = actions.shipment_add_tracking(shipment=shipment, user=request.user, **form.cleaned_data)
        except ActionRefused as exc:
            if not (exc.field and exc.field in form.fields):
                return _action_done(
                    request,
                    order_id,
                    area="shipments",
                    error=exc.message,
                    conflict=exc.conflict,
                    tracking_forms={shipment.pk: form},
                )
            form_refusal(form, exc)
        else:
            shipment.refresh_from_db()
            follow = "it goes with the shipment's pending push" if operation is None else "pushing it to the channel"
            return _action_done(
                request,
                order_id,
                area="shipments",
                message=f"Tracking {shipment.tracking_number} added to the {shipment.carrier} shipment; {follow}.",
            )
    return _action_done(request, order_id, area="shipments", tracking_forms={shipment.pk: form})


@login_required
@require_POST
def shipment_sync(request: HttpRequest, order_id: int, shipment_id: int) -> HttpResponse:
    """ "Sync shipment": push again whatever of this shipment the channel hasn't accepted."""
    order = selectors.get_order_for_user(request.user, order_id)
    shipment = _shipment_of(order, shipment_id)
    queued = actions.shipment_sync(shipment=shipment, user=request.user)
    if not queued:
        return _action_done(
            request, order_id, area="shipments", error="Nothing to sync: the channel has everything of this shipment."
        )
    return _action_done(request, order_id, area="shipments", message="Shipment queued again for the channel.")


@login_required
@require_POST
def order_shipments_sync(request: HttpRequest, order_id: int) -> HttpResponse:
    """The red banner's button: every failed (or waiting) push of the order, again."""
    selectors.get_order_for_user(request.user, order_id)
    queued = actions.shipments_sync_bulk(order_ids=[order_id], user=request.user)
    if not queued:
        return _action_done(
            request, order_id, area="shipments", error="Nothing to sync: no push of this order is waiting or failed."
        )
    return _action_done(
        request,
        order_id,
        area="shipments",
        message=f"{queued} push{'es' if queued != 1 else ''} queued again for the channel.",
    )


@login_required
@require_GET
def shipment_label(request: HttpRequest, order_id: int, shipment_id: int) -> FileResponse:
    """A shipment's label, only to signed-in staff (labels are never served as public media)."""
    order = selectors.get_order_for_user(request.user, order_id)
    shipment = _shipment_of(order, shipment_id)
    if not shipment.label:
        raise Http404("This shipment has no label")
    try:
        handle = shipment.label.open("rb")
    except FileNotFoundError:
        raise Http404("The label file is missing") from None
    filename = PurePosixPath(shipment.label.name).name
    content_type = mimetypes.guess_type(filename)[0] or "application/pdf"
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)


# -- bulk, from the list ------------------------------------------------------------------------
MAX_LISTED_REFUSALS = 20


def _form_errors_to_messages(request: HttpRequest, form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


@login_required
@require_POST
def orders_bulk_ship(request: HttpRequest) -> HttpResponse:
    """Bulk "Mark shipped": one carrier, no tracking, every remaining line of each selected
    order. Each order ships (or is refused) on its own; refusals are listed per order."""
    back = _safe_next(request, reverse("orders:list"))
    form = BulkShipForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(back)
    carrier = form.cleaned_data["carrier"]
    shipped, refused = 0, []
    orders = (
        Order.objects.filter(pk__in=form.cleaned_data["order_ids"])
        .select_related("channel")
        .defer("raw")
        .order_by("-placed_at", "-id")
    )
    for order in orders:
        reason = actions.action_availability(order)["ship"]
        if not reason:
            try:
                actions.order_ship(order=order, carrier=carrier, user=request.user)
            except ActionRefused as exc:
                reason = exc.message
        if reason:
            refused.append((order, reason))
        else:
            shipped += 1
    if shipped:
        messages.success(
            request,
            f"Marked {shipped} order{'s' if shipped != 1 else ''} shipped with {carrier}. "
            "Fulfilment is pending until the channel accepts each shipment.",
        )
    for order, reason in refused[:MAX_LISTED_REFUSALS]:
        messages.warning(request, f"Order {order} was not shipped: {reason}")
    if len(refused) > MAX_LISTED_REFUSALS:
        messages.warning(request, f"…and {len(refused) - MAX_LISTED_REFUSALS} more orders were not shipped.")
    return redirect(back)


@login_required
@require_POST
def orders_bulk_sync_shipments(request: HttpRequest) -> HttpResponse:
    """Bulk "Sync shipments" for the selected orders."""
    back = _safe_next(request, reverse("orders:list"))
    form = BulkResyncForm(request.POST)
    if not form.is_valid():
        _form_errors_to_messages(request, form)
        return redirect(back)
    queued = actions.shipments_sync_bulk(order_ids=form.cleaned_data["order_ids"], user=request.user)
    _sync_message(request, queued, scope="the selected orders")
    return redirect(back)


@login_required
@require_POST
def orders_sync_pending_shipments(request: HttpRequest) -> HttpResponse:
    """ "Sync all pending shipments": every push waiting or failed, in tasks of at most 100."""
    back = _safe_next(request, reverse("orders:list"))
    queued = actions.shipments_sync_bulk(order_ids=None, user=request.user)
    _sync_message(request, queued, scope="any order")
    return redirect(back)


def _sync_message(request: HttpRequest, queued: int, *, scope: str) -> None:
    if queued:
        pushes = f"{queued} push{'es' if queued != 1 else ''}"
        messages.success(request, f"{pushes} to the channel queued again; each turns Prepared once accepted.")
    else:
        messages.info(request, f"Nothing to sync: no shipment push is pending or failed for {scope}.")
