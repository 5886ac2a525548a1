"""Orders for API tests, built the way production builds them: NormalizedOrder values handed to
`orders_upsert`, never rows written directly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from channels.adapters.base import NormalizedLine, NormalizedOrder, NormalizedShipment
from orders.models import Order
from orders.services import orders_upsert

_sequence = itertools.count(1000)
BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def normalized_order(**overrides) -> NormalizedOrder:
    n = next(_sequence)
    values = dict(
        external_id=str(5550000000000 + n),
        number=f"#{n}",
        status="accepted",
        payment_status="paid",
        channel_status="PAID · UNFULFILLED",
        currency="USD",
        total=Decimal("59.90"),
        subtotal=Decimal("49.90"),
        shipping_total=Decimal("10.00"),
        placed_at=BASE_TIME + timedelta(minutes=n),
        source_updated_at=BASE_TIME + timedelta(minutes=n, seconds=30),
        customer_name="Ana Lopez",
        customer_email=f"ana{n}@example.com",
        customer_phone="+15125550100",
        shipping_address={"name": "Ana Lopez", "address1": "1 Main St", "city": "Austin", "country_code": "US"},
        billing_address={"name": "Ana Lopez", "address1": "1 Main St", "city": "Austin", "country_code": "US"},
        tags=["vip"],
        lines=[
            NormalizedLine(
                external_id=f"{n}01",
                sku="TSHIRT-M-BLK",
                title="T-Shirt",
                variant="M / Black",
                quantity=2,
                unit_price=Decimal("24.95"),
            ),
            NormalizedLine(external_id=f"{n}02", sku="MUG-WHT", title="Mug", quantity=1, unit_price=Decimal("0.00")),
        ],
        shipments=[],
        raw={"id": f"gid://shopify/Order/{5550000000000 + n}", "note": "raw payload"},
    )
    values.update(overrides)
    return NormalizedOrder(**values)


def shipment(**overrides) -> NormalizedShipment:
    values = dict(
        external_id=str(next(_sequence)),
        status="success",
        carrier="UPS",
        tracking_number="1Z999AA10123456784",
        tracking_url="https://ups.example/track/1Z999",
        shipped_at=BASE_TIME + timedelta(days=1),
    )
    values.update(overrides)
    return NormalizedShipment(**values)


def create_orders(channel, count: int = 1, **overrides) -> list[Order]:
    normalized = [normalized_order(**overrides) for _ in range(count)]
    orders_upsert(channel=channel, orders=normalized, source="poll")
    return list(
        Order.objects.filter(channel=channel, external_id__in=[o.external_id for o in normalized]).order_by("id")
    )


def create_order(channel, **overrides) -> Order:
    return create_orders(channel, 1, **overrides)[0]


def token_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
