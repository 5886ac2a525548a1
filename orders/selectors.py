"""Reads for orders: what the list, the detail page and the API show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.http import Http404

from inventory.models import Product

from .models import Order, OrderLine, Shipment, SyncEvent, SyncState


@dataclass
class OrderFilters:
    channel: int | None = None
    status: str = ""
    payment_status: str = ""
    errors: bool = False
    q: str = ""
    updated_since: datetime | None = None
    # "pending": shipments made here that the channel hasn't accepted (queued or failed);
    # "prepared": shipments the channel has accepted; "requires_sync": a push failed for good.
    shipments: str = ""


def order_list(filters: OrderFilters) -> QuerySet[Order]:
    """Orders newest first, filtered. Joins the channel for display and never loads lines per
    row; SKU search is an EXISTS on the indexed sku column."""
    qs = Order.objects.select_related("channel").defer("raw")
    if filters.channel:
        qs = qs.filter(channel_id=filters.channel)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.payment_status:
        qs = qs.filter(payment_status=filters.payment_status)
    if filters.errors:
        qs = qs.exclude(sync_state=SyncState.OK)
    if filters.shipments == "pending":
        qs = qs.filter(Exists(Shipment.objects.filter(order=OuterRef("pk"), push_state__in=["pending", "failed"])))
    elif filters.shipments == "prepared":
        qs = qs.filter(Exists(Shipment.objects.filter(order=OuterRef("pk"), push_state="accepted")))
    elif filters.shipments == "requires_sync":
        qs = qs.filter(requires_shipment_sync=True)
    if filters.updated_since:
        qs = qs.filter(updated_at__gte=filters.updated_since)
    term = filters.q.strip()
    if term:
        sku_match = OrderLine.objects.filter(order=OuterRef("pk"), sku__iexact=term)
        qs = qs.filter(
            Q(number__icontains=term)
            | Q(external_id=term)
            | Q(customer_name__icontains=term)
            | Q(customer_email__icontains=term)
            | Exists(sku_match)
        )
    return qs.order_by("-placed_at", "-id")


def order_detail(order_id: int) -> Order:
    """The order with its lines (each with `product_id`: the catalogue product of its SKU, or
    None when the SKU is unknown) and shipments."""
    lines = OrderLine.objects.annotate(
        product_id=Subquery(Product.objects.filter(sku=OuterRef("sku")).values("pk")[:1])
    ).order_by("position", "id")
    return (
        Order.objects.select_related("channel")
        .prefetch_related(Prefetch("lines", queryset=lines), "shipments")
        .get(pk=order_id)
    )


def catalogue_in_use() -> bool:
    """Unknown SKUs only mean something once the merchant keeps a catalogue here."""
    return Product.objects.exists()


def orders_with_unknown_skus() -> QuerySet[Order]:
    """Orders with at least one line whose SKU no product has."""
    unknown_line = (
        OrderLine.objects.filter(order=OuterRef("pk"))
        .exclude(sku="")
        .filter(~Exists(Product.objects.filter(sku=OuterRef("sku"))))
    )
    return Order.objects.filter(Exists(unknown_line))


def order_timeline(order: Order, limit: int | None = 200) -> QuerySet[SyncEvent]:
    events = order.events.select_related("run").order_by("-created_at", "-id")
    return events[:limit] if limit is not None else events


def orders_with_lines(qs: QuerySet[Order]) -> QuerySet[Order]:
    return qs.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("position", "id")), "shipments")


def get_order_for_user(user, order_id: int) -> Order:
    """The one way views fetch an order (with channel, lines and shipments). Fenicia is
    single-merchant: every active signed-in user sees every order. Http404 otherwise."""
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such order")
    try:
        return order_detail(order_id)
    except Order.DoesNotExist:
        raise Http404("No such order") from None
