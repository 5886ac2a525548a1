"""Reads for inventory: what the pages and the API show. Nothing here writes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.http import Http404

from channels.models import Channel

from .models import (
    ChannelListing,
    ChannelStockSettings,
    InventorySource,
    InventorySyncRun,
    Product,
    RunStatus,
    SkuMapping,
    StockLevel,
    StockPush,
    StockPushPending,
)
from .push import can_push


def _signed_in(user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


def get_source_for_user(user: AbstractBaseUser | AnonymousUser, source_id: int) -> InventorySource:
    """The one way views fetch a source. Single-merchant: every signed-in user sees every
    source. Raises Http404 otherwise."""
    if not _signed_in(user):
        raise Http404("No such source")
    try:
        return InventorySource.objects.get(pk=source_id)
    except InventorySource.DoesNotExist:
        raise Http404("No such source") from None


def get_product_for_user(user: AbstractBaseUser | AnonymousUser, product_id: int) -> Product:
    if not _signed_in(user):
        raise Http404("No such product")
    try:
        return Product.objects.get(pk=product_id)
    except Product.DoesNotExist:
        raise Http404("No such product") from None


def source_list() -> QuerySet[InventorySource]:
    return InventorySource.objects.annotate(
        product_count=Count("stock_levels", distinct=True),
    ).order_by("name", "id")


def source_runs(source: InventorySource, *, limit: int = 20) -> QuerySet[InventorySyncRun]:
    return source.runs.select_related("requested_by").order_by("-created_at", "-id")[:limit]


def source_active_run(source: InventorySource) -> InventorySyncRun | None:
    return source.runs.filter(status__in=[RunStatus.PENDING, RunStatus.SYNCING]).order_by("-id").first()


def source_run(source: InventorySource, run_id: int) -> InventorySyncRun:
    try:
        return source.runs.select_related("requested_by").get(pk=run_id)
    except InventorySyncRun.DoesNotExist:
        raise Http404("No such run") from None


def run_for_user(user, run_id: int) -> InventorySyncRun:
    if not _signed_in(user):
        raise Http404("No such run")
    try:
        return InventorySyncRun.objects.select_related("source").get(pk=run_id)
    except InventorySyncRun.DoesNotExist:
        raise Http404("No such run") from None


def source_latest_problems(source: InventorySource) -> InventorySyncRun | None:
    """The newest run that applied something: its unmapped SKUs and invalid rows are the ones
    worth fixing now."""
    return source.runs.filter(status=RunStatus.COMPLETED, records_processed__gt=0).order_by("-id").first()


@dataclass
class UnmappedRow:
    sku: str
    line: int
    quantity: int | None
    product_id: int | None  # set once a product with this SKU exists


def unmapped_rows(run: InventorySyncRun | None) -> list[UnmappedRow]:
    if run is None:
        return []
    codes = [u.get("sku", "") for u in run.unmapped_skus]
    existing = dict(Product.objects.filter(sku__in=codes).values_list("sku", "id"))
    return [
        UnmappedRow(
            sku=u.get("sku", ""),
            line=u.get("line", 0),
            quantity=u.get("quantity"),
            product_id=existing.get(u.get("sku")),
        )
        for u in run.unmapped_skus
    ]


def source_mappings(source: InventorySource, *, limit: int = 500) -> QuerySet[SkuMapping]:
    return source.mappings.select_related("product").order_by("external_code")[:limit]


# -- products -----------------------------------------------------------------------------------
def product_list(*, q: str = "") -> QuerySet[Product]:
    qs = Product.objects.all()
    term = q.strip()
    if term:
        qs = qs.filter(Q(sku__icontains=term) | Q(name__icontains=term) | Q(barcode=term))
    return qs.order_by("sku")


def levels_by_product(products: list[Product]) -> dict[int, dict[int, int]]:
    """{product id: {source id: quantity}} for a page of products."""
    table: dict[int, dict[int, int]] = defaultdict(dict)
    for product_id, source_id, quantity in StockLevel.objects.filter(product__in=products).values_list(
        "product_id", "source_id", "quantity"
    ):
        table[product_id][source_id] = quantity
    return table


def last_pushes(products: list[Product]) -> dict[int, list[StockPush]]:
    """The latest push of each product to each channel, for a page of products."""
    latest_ids = (
        StockPush.objects.filter(product__in=products)
        .values("product_id", "channel_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    table: dict[int, list[StockPush]] = defaultdict(list)
    for push in StockPush.objects.filter(pk__in=list(latest_ids)).select_related("channel").order_by("channel__name"):
        table[push.product_id].append(push)
    return table


def product_levels(product: Product) -> QuerySet[StockLevel]:
    return product.stock_levels.select_related("source").order_by("source__name")


def product_pushes(product: Product, *, limit: int = 50) -> QuerySet[StockPush]:
    return product.pushes.select_related("channel").order_by("-created_at", "-id")[:limit]


def product_channels(product: Product) -> list[Channel]:
    """Channels that sell the product: an order line with its SKU, or an explicit listing."""
    order_line = apps.get_model("orders", "OrderLine")
    from_orders = order_line.objects.filter(sku=product.sku).values("order__channel_id")
    listed = ChannelListing.objects.filter(product=product).values("channel_id")
    return list(Channel.objects.filter(Q(pk__in=from_orders) | Q(pk__in=listed)).order_by("name"))


def unknown_order_skus(*, limit: int = 50) -> list[dict]:
    """SKUs on order lines that no product has: each needs a product (or a fix at the channel)."""
    order_line = apps.get_model("orders", "OrderLine")
    known = Product.objects.filter(sku=OuterRef("sku"))
    return list(
        order_line.objects.exclude(sku="")
        .filter(~Exists(known))
        .values("sku")
        .annotate(lines=Count("id"), orders=Count("order", distinct=True))
        .order_by("-lines", "sku")[:limit]
    )


# -- channels -----------------------------------------------------------------------------------
@dataclass
class ChannelStockRow:
    channel: Channel
    settings: ChannelStockSettings | None
    can_push: bool
    pending: int
    last_push: StockPush | None
    listings: int


def channel_stock_rows() -> list[ChannelStockRow]:
    settings = {s.channel_id: s for s in ChannelStockSettings.objects.all()}
    pending = dict(StockPushPending.objects.values("channel_id").annotate(n=Count("id")).values_list("channel_id", "n"))
    listings = dict(ChannelListing.objects.values("channel_id").annotate(n=Count("id")).values_list("channel_id", "n"))
    rows = []
    for channel in Channel.objects.order_by("name", "id"):
        rows.append(
            ChannelStockRow(
                channel=channel,
                settings=settings.get(channel.pk),
                can_push=can_push(channel),
                pending=pending.get(channel.pk, 0),
                last_push=StockPush.objects.filter(channel=channel).order_by("-id").first(),
                listings=listings.get(channel.pk, 0),
            )
        )
    return rows


def stock_levels(*, product_id: int | None = None, source_id: int | None = None) -> QuerySet[StockLevel]:
    qs = StockLevel.objects.select_related("product", "source")
    if product_id:
        qs = qs.filter(product_id=product_id)
    if source_id:
        qs = qs.filter(source_id=source_id)
    return qs.order_by("product__sku", "source__name")
