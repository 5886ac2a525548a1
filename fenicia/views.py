"""Cross-app pages: the dashboard and the notifications list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from channels.models import Channel, SyncRun
from orders.models import Order, OutboundOperation, SyncEvent, SyncState
from orders.selectors import catalogue_in_use, orders_with_unknown_skus

from .models import Notification
from .notifications import notifications_mark_read

CHART_DAYS = 14
CHANNEL_COLOURS = 8  # .series-0 … .series-7 in the stylesheet
ATTENTION_LIMIT = 10


@dataclass
class ChartDay:
    day: date
    total: int = 0
    segments: list[tuple[Channel, int, float]] = field(default_factory=list)  # channel, count, % of max


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.localtime()
    today = now.date()
    today_start = timezone.make_aware(datetime.combine(today, time.min))
    channels = list(Channel.objects.order_by("name", "id"))
    for index, channel in enumerate(channels):
        channel.series = index % CHANNEL_COLOURS
    counts = _order_counts(today_start=today_start, week_start=today_start - timedelta(days=6))
    for channel in channels:
        channel.orders_today, channel.orders_week = counts.get(channel.pk, (0, 0))
    attention = Order.objects.exclude(sync_state=SyncState.OK)
    needs_push = Order.objects.filter(requires_shipment_sync=True)
    push_orders = list(
        needs_push.select_related("channel").defer("raw").order_by("-updated_at", "-id")[:ATTENTION_LIMIT]
    )
    _attach_push_errors(push_orders)
    return render(
        request,
        "fenicia/dashboard.html",
        {
            "channels": channels,
            "chart": _orders_chart(channels, first_day=today - timedelta(days=CHART_DAYS - 1), days=CHART_DAYS),
            "attention_orders": attention.select_related("channel")
            .defer("raw")
            .order_by("-updated_at", "-id")[:ATTENTION_LIMIT],
            "attention_count": attention.count(),
            "push_orders": push_orders,
            "push_count": needs_push.count(),
            "failed_events": SyncEvent.objects.filter(outcome=SyncEvent.Outcome.FAILURE)
            .select_related("channel", "order")
            .defer("order__raw")
            .order_by("-created_at", "-id")[:ATTENTION_LIMIT],
            "active_runs": SyncRun.objects.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
            .select_related("channel")
            .order_by("-created_at", "-id")[:5],
            "flag_unknown_skus": (flag := catalogue_in_use()),
            "unknown_sku_orders": orders_with_unknown_skus().count() if flag else 0,
            "orders_today": sum(c.orders_today for c in channels),
            "orders_week": sum(c.orders_week for c in channels),
        },
    )


def _attach_push_errors(orders: list[Order]) -> None:
    """Each order's latest failed push message, in one query."""
    errors: dict[int, str] = {}
    rows = (
        OutboundOperation.objects.filter(order__in=[o.pk for o in orders], state=OutboundOperation.State.FAILED)
        .order_by("order_id", "-completed_at", "-id")
        .values_list("order_id", "last_error")
    )
    for order_id, error in rows:
        errors.setdefault(order_id, error)
    for order in orders:
        order.push_error = errors.get(order.pk, "")


def _order_counts(*, today_start: datetime, week_start: datetime) -> dict[int, tuple[int, int]]:
    """channel id -> (orders placed today, in the last 7 days), one query on the placed_at index."""
    rows = (
        Order.objects.filter(placed_at__gte=week_start)
        .values("channel_id")
        .annotate(today=Count("id", filter=Q(placed_at__gte=today_start)), week=Count("id"))
    )
    return {row["channel_id"]: (row["today"], row["week"]) for row in rows}


def _orders_chart(channels: list[Channel], *, first_day: date, days: int) -> dict:
    """Orders per channel per day (site time zone), as stacked bars scaled to the busiest day."""
    start = timezone.make_aware(datetime.combine(first_day, time.min))
    rows = (
        Order.objects.filter(placed_at__gte=start)
        .annotate(day=TruncDate("placed_at"))
        .values("channel_id", "day")
        .annotate(n=Count("id"))
    )
    counts = {(row["channel_id"], row["day"]): row["n"] for row in rows}
    chart_days = [ChartDay(day=first_day + timedelta(days=offset)) for offset in range(days)]
    for chart_day in chart_days:
        chart_day.total = sum(counts.get((c.pk, chart_day.day), 0) for c in channels)
    peak = max((d.total for d in chart_days), default=0)
    for chart_day in chart_days:
        chart_day.segments = [
            (c, n, round(n * 100 / peak, 2)) for c in channels if (n := counts.get((c.pk, chart_day.day), 0))
        ]
    return {"days": chart_days, "peak": peak, "total": sum(d.total for d in chart_days)}


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(Notification.objects.order_by("-last_seen_at", "-id"), 50).get_page(request.GET.get("page"))
    return render(request, "fenicia/notification_list.html", {"page": page})


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    marked = notifications_mark_read()
    messages.success(request, f"{marked} notification{'s' if marked != 1 else ''} marked as read.")
    return redirect("notifications")
