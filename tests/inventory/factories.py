"""Inventory rows built through the services, the way production builds them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from channels.models import Channel
from inventory import services
from inventory.models import InventorySource, Product

_n = itertools.count(1)


def make_source(**values) -> InventorySource:
    defaults = {"name": f"Source {next(_n)}", "kind": "rest_api", "url": "http://127.0.0.1:9/stock"}
    defaults.update(values)
    return services.source_create(**defaults)


def make_products(*skus: str) -> list[Product]:
    return [Product.objects.create(sku=sku, name=f"Product {sku}") for sku in skus]


def sell_on(channel: Channel, *skus: str, external_id: str | None = None):
    """An order of `channel` with a line per SKU: the channel now "sells" those SKUs."""
    from orders.models import Order, OrderLine

    order = Order.objects.create(
        channel=channel,
        external_id=external_id or f"order-{next(_n)}",
        number=f"#{next(_n)}",
        placed_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    for position, sku in enumerate(skus):
        OrderLine.objects.create(
            order=order,
            external_id=f"{order.external_id}-{position}",
            sku=sku,
            title=sku,
            quantity=1,
            position=position,
        )
    return order
