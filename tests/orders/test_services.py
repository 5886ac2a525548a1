"""orders_upsert: the one door every order comes in through."""

import threading
from decimal import Decimal

import pytest
from django.db import connections

from orders.models import Order, OrderLine, Shipment, SyncEvent
from orders.services import orders_upsert
from tests.factories import normalized_order, shipment

pytestmark = pytest.mark.django_db


def test_new_orders_are_created_with_lines_and_a_timeline_entry(shopify_channel):
    result = orders_upsert(channel=shopify_channel, orders=[normalized_order("1", lines=3)], source="poll")
    order = Order.objects.get()
    assert result.created == [order.pk] and not result.updated
    assert [line.sku for line in order.lines.all()] == ["SKU-0", "SKU-1", "SKU-2"]
    assert order.total == Decimal("59.90") and order.last_synced_at is not None
    assert order.events.get().message == "Imported from a scheduled poll"


def test_a_newer_update_overwrites_the_order_and_replaces_its_lines(shopify_channel):
    orders_upsert(channel=shopify_channel, orders=[normalized_order("1", lines=3)], source="webhook")
    result = orders_upsert(
        channel=shopify_channel,
        orders=[normalized_order("1", minutes=5, lines=1, status="shipped", shipments=[shipment()])],
        source="poll",
    )
    order = Order.objects.get()
    assert result.updated == [order.pk]
    assert order.status == "shipped" and order.lines.count() == 1
    assert order.shipments.get().tracking_number == "1Z999"
    assert list(order.events.values_list("kind", flat=True)) == ["updated", "imported"]


def test_an_older_update_changes_nothing_and_says_so(shopify_channel):
    orders_upsert(
        channel=shopify_channel, orders=[normalized_order("1", minutes=10, status="shipped")], source="webhook"
    )
    result = orders_upsert(
        channel=shopify_channel, orders=[normalized_order("1", minutes=0, status="accepted", lines=5)], source="webhook"
    )
    order = Order.objects.get()
    assert result.stale == ["1"] and not result.updated
    assert order.status == "shipped" and order.lines.count() == 2
    event = order.events.first()
    assert event.kind == SyncEvent.Kind.STALE_IGNORED and event.outcome == SyncEvent.Outcome.SKIPPED


def test_the_same_update_again_is_idempotent(shopify_channel):
    for _ in range(3):
        orders_upsert(channel=shopify_channel, orders=[normalized_order("1", shipments=[shipment()])], source="poll")
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2 and Shipment.objects.count() == 1


def test_a_batch_holding_the_same_order_twice_keeps_the_newest(shopify_channel):
    orders_upsert(
        channel=shopify_channel,
        orders=[
            normalized_order("1", minutes=9, notes="newest"),
            normalized_order("1", minutes=1, notes="older"),
            normalized_order("2"),
        ],
        source="poll",
    )
    order = Order.objects.get(external_id="1")
    assert order.notes == "newest"
    assert Order.objects.count() == 2
    assert sorted(order.events.values_list("kind", flat=True)) == ["imported", "stale_ignored"]


def test_orders_are_unique_per_channel_not_globally(shopify_channel):
    from channels.services import channel_create

    other = channel_create(kind="shopify", name="Other", credentials={"shop": "o.myshopify.com", "access_token": "t"})
    orders_upsert(channel=shopify_channel, orders=[normalized_order("1")], source="poll")
    orders_upsert(channel=other, orders=[normalized_order("1")], source="poll")
    assert Order.objects.filter(external_id="1").count() == 2


def test_upserting_many_orders_takes_a_constant_number_of_queries(shopify_channel, django_assert_max_num_queries):
    orders_upsert(channel=shopify_channel, orders=[normalized_order(str(n)) for n in range(5)], source="poll")
    with django_assert_max_num_queries(12):
        orders_upsert(
            channel=shopify_channel, orders=[normalized_order(str(n), minutes=1) for n in range(150)], source="poll"
        )
    assert Order.objects.count() == 150 and OrderLine.objects.count() == 300


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_the_same_order_end_with_one_row_holding_the_newest(shopify_channel):
    """A webhook and a poll (or two workers) racing on the same orders, on separate connections."""
    barrier = threading.Barrier(4)
    errors = []

    def writer(minutes: int, source: str) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                orders_upsert(
                    channel=shopify_channel,
                    source=source,
                    orders=[normalized_order(str(n), minutes=minutes, notes=f"v{minutes}") for n in range(30)],
                )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=writer, args=(m, s))
        for m, s in ((1, "webhook"), (2, "poll"), (3, "webhook"), (2, "resync"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Order.objects.count() == 30
    assert set(Order.objects.values_list("notes", flat=True)) == {"v3"}
    assert OrderLine.objects.count() == 60
