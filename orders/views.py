"""Order pages: the list (filters, search, bulk re-sync) and the detail page (timeline, Sync)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from channels.selectors import runs_by_ids

from . import selectors, sync
from .forms import BulkResyncForm, OrderFilterForm
from .models import Order, SyncEvent

PAGE_SIZE = 50
# After "Sync", the timeline polls while the request is the newest entry, but not forever:
# a task stuck in a queue must not keep every open tab polling.
TIMELINE_POLL_FOR = timedelta(seconds=20)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    filters = form.to_filters()
    page = Paginator(selectors.order_list(filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "orders/order_list.html",
        {
            "form": form,
            "filters": filters,
            "page": page,
            "filtered": any([filters.channel, filters.status, filters.payment_status, filters.errors, filters.q]),
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
    return {"order": order, "events": events, "polling": polling}


@login_required
@require_GET
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = selectors.get_order_for_user(request.user, order_id)
    return render(request, "orders/order_detail.html", {**_timeline_context(order), **_order_context(order)})


def _order_context(order: Order) -> dict:
    shipments = list(order.shipments.all())
    for shipment in shipments:
        shipment.status_label = shipment.status.replace("_", " ").capitalize()  # "in_transit" -> "In transit"
    return {"shipments": shipments, "raw_json": _pretty_json(order.raw)}


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
    over) also the lines, shipments and side cards, which the sync may have changed."""
    context = {**_timeline_context(order), "oob": True}
    if not context["polling"]:
        context.update(_order_context(order))
    return render(request, "orders/order_detail.html#timeline-update", context)
