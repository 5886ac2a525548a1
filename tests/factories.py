"""Builders for normalised orders, the values adapters hand to services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from channels.adapters.base import NormalizedLine, NormalizedOrder, NormalizedShipment

BASE_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def normalized_order(external_id: str = "1001", *, minutes: int = 0, lines: int = 2, **overrides) -> NormalizedOrder:
    """An order updated `minutes` after BASE_TIME, with `lines` lines."""
    values = dict(
        external_id=external_id,
        number=f"#{external_id}",
        status="accepted",
        payment_status="paid",
        channel_status="PAID · UNFULFILLED",
        currency="USD",
        total=Decimal("59.90"),
        subtotal=Decimal("49.90"),
        shipping_total=Decimal("10.00"),
        customer_name="Ana Lopez",
        customer_email="ana@example.com",
        shipping_address={"name": "Ana Lopez", "city": "Austin", "country_code": "US"},
        placed_at=BASE_TIME - timedelta(hours=1),
        source_updated_at=BASE_TIME + timedelta(minutes=minutes),
        lines=[
            NormalizedLine(
                external_id=f"{external_id}-{n}",
                sku=f"SKU-{n}",
                title=f"Item {n}",
                quantity=n + 1,
                unit_price=Decimal("10.00"),
            )
            for n in range(lines)
        ],
        raw={"id": external_id},
    )
    values.update(overrides)
    return NormalizedOrder(**values)


def shipment(external_id: str = "7001", **overrides) -> NormalizedShipment:
    values = dict(
        external_id=external_id,
        status="in_transit",
        carrier="UPS",
        tracking_number="1Z999",
        tracking_url="https://www.ups.com/track?tracknum=1Z999",
    )
    values.update(overrides)
    return NormalizedShipment(**values)
