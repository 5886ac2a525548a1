"""Orders built the way production builds them: through `orders_upsert`."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from channels.adapters.base import NormalizedLine, NormalizedOrder, NormalizedShipment
from orders.models import Order
from orders.services import orders_upsert
from tests.conftest import load_fixture

_ids = itertools.count(1)
BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def normalized_order(**overrides) -> NormalizedOrder:
    n = next(_ids)
    values = {
        "external_id": f"ext-{n}",
        "number": f"#{1000 + n}",
        "status": "accepted",
        "payment_status": "paid",
        "channel_status": "PAID · UNFULFILLED",
        "currency": "USD",
        "subtotal": Decimal("49.90"),
        "shipping_total": Decimal("10.00"),
        "total": Decimal("59.90"),
        "source_updated_at": BASE_TIME,
        "placed_at": BASE_TIME - timedelta(minutes=n),
        "customer_name": f"Customer {n}",
        "customer_email": f"customer{n}@example.com",
        "shipping_address": {
            "name": f"Customer {n}",
            "address1": "1 Main St",
            "city": "Austin",
            "zip": "78701",
            "country": "United States",
        },
        "lines": [
            NormalizedLine(
                external_id=f"line-{n}",
                sku=f"SKU-{n}",
                title="T-Shirt",
                quantity=2,
                unit_price=Decimal("24.95"),
                variant="M / Black",
            )
        ],
    }
    values.update(overrides)
    return NormalizedOrder(**values)


def make_orders(channel, count: int = 1, *, source: str = "webhook", **overrides) -> list[Order]:
    batch = [normalized_order(**overrides) for _ in range(count)]
    orders_upsert(channel=channel, orders=batch, source=source)
    by_external = {
        o.external_id: o for o in Order.objects.filter(channel=channel, external_id__in=[b.external_id for b in batch])
    }
    return [by_external[b.external_id] for b in batch]


def make_order(channel, **overrides) -> Order:
    return make_orders(channel, 1, **overrides)[0]


def shipment(**overrides) -> NormalizedShipment:
    values = {
        "external_id": "7001",
        "status": "delivered",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
    }
    values.update(overrides)
    return NormalizedShipment(**values)


def shopify_order_node(index: int = 0, **overrides) -> dict:
    """One order node shaped like Shopify's GraphQL answer (from the recorded page fixture)."""
    node = copy.deepcopy(load_fixture("shopify/graphql_orders_page.json")["data"]["orders"]["nodes"][index])
    node.update(overrides)
    return node
