"""Stock to channels: a changed quantity reaches every channel that sells the SKU, through the
Shopify adapter, against the sandbox marketplace over real sockets."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from channels.sandbox import SandboxServer
from channels.sandbox.inventory import sandbox_inventory
from channels.services import channel_create
from fenicia.models import Notification
from inventory import push, services
from inventory.models import ChannelListing, ChannelStockSettings, Product, StockPush, StockPushPending

from .factories import make_products, make_source, sell_on
from .servers import stock_csv

pytestmark = pytest.mark.django_db

SHOP = "stock.myshopify.com"
TOKEN = "shpat_stock_token"


@pytest.fixture
def sandbox():
    with SandboxServer(seed=3) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret="s")
        yield server


@pytest.fixture
def inventory(sandbox):
    return sandbox_inventory(sandbox.state)


@pytest.fixture
def channel(sandbox):
    return channel_create(
        kind="shopify",
        name="Sandbox store",
        api_base_url=sandbox.url,
        credentials={"shop": SHOP, "access_token": TOKEN},
        webhook_secret="s",
    )


def apply_file(http_server, run_tasks, rows, source=None):
    source = source or make_source(url=http_server.url + "/stock.csv")
    http_server.csv("/stock.csv", stock_csv(rows))
    with run_tasks():
        services.source_sync_start(source=source)
    return source


def test_changed_quantities_reach_the_channels_that_sell_the_sku(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A", "B", "C"])
    make_products("A", "B", "C")
    sell_on(channel, "A", "B")  # C: never sold here
    apply_file(http_server, run_tasks, [("A", 5), ("B", 0), ("C", 9)])

    assert inventory.available(SHOP, "A") == 5
    assert inventory.available(SHOP, "B") == 0
    assert inventory.available(SHOP, "C") == 0  # untouched
    calls = inventory.applied_calls(SHOP)
    assert len(calls) == 1
    call = calls[0]
    assert call["input"]["name"] == "available" and call["input"]["reason"] == "correction"
    assert call["key"]  # the idempotency key of 2026-04+
    assert all(q["changeFromQuantity"] is None for q in call["input"]["quantities"])
    assert "ignoreCompareQuantity" not in call["input"]
    log = {(p.product.sku, p.quantity, p.ok) for p in StockPush.objects.select_related("product")}
    assert log == {("A", 5, True), ("B", 0, True)}
    assert not StockPushPending.objects.exists()


def test_unchanged_quantities_are_not_pushed_again(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A"])
    make_products("A")
    sell_on(channel, "A")
    source = apply_file(http_server, run_tasks, [("A", 5)])
    apply_file(http_server, run_tasks, [("A", 5)], source=source)
    assert len(inventory.applied_calls(SHOP)) == 1


def test_the_safety_buffer_is_held_back_and_never_below_zero(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A", "B"])
    make_products("A", "B")
    sell_on(channel, "A", "B")
    ChannelStockSettings.objects.create(channel=channel, safety_buffer=3)
    apply_file(http_server, run_tasks, [("A", 10), ("B", 2)])
    assert inventory.available(SHOP, "A") == 7
    assert inventory.available(SHOP, "B") == 0
    assert set(StockPush.objects.values_list("quantity", flat=True)) == {7, 0}


def test_pushes_go_in_batches_of_at_most_100(http_server, run_tasks, sandbox, inventory, channel):
    skus = [f"SKU-{n:03d}" for n in range(250)]
    inventory.add_variants(SHOP, skus)
    make_products(*skus)
    sell_on(channel, *skus)
    apply_file(http_server, run_tasks, [(s, n) for n, s in enumerate(skus)])
    calls = inventory.applied_calls(SHOP)
    assert [len(c["input"]["quantities"]) for c in calls] == [100, 100, 50]
    assert inventory.available(SHOP, "SKU-249") == 249
    assert StockPush.objects.filter(ok=True).count() == 250


def test_a_listing_makes_a_channel_sell_a_sku_no_order_has_shown(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A"])
    (product,) = make_products("A")
    with run_tasks():
        services.listing_set(channel=channel, product=product)
    assert ChannelListing.objects.filter(channel=channel, product=product).exists()
    apply_file(http_server, run_tasks, [("A", 4)])
    assert inventory.available(SHOP, "A") == 4


def test_skus_shopify_does_not_know_are_logged_as_failures(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A"])
    inventory.add_variants(SHOP, ["UNTRACKED"], tracked=False)
    inventory.add_variants(SHOP, ["ELSEWHERE"], stocked=False)
    make_products("A", "GONE", "UNTRACKED", "ELSEWHERE")
    sell_on(channel, "A", "GONE", "UNTRACKED", "ELSEWHERE")
    apply_file(http_server, run_tasks, [("A", 1), ("GONE", 2), ("UNTRACKED", 3), ("ELSEWHERE", 4)])
    results = {p.product.sku: (p.ok, p.message) for p in StockPush.objects.select_related("product")}
    assert results["A"] == (True, "available set to 1")
    assert results["GONE"][0] is False and "No variant" in results["GONE"][1]
    assert results["UNTRACKED"][0] is False and "track" in results["UNTRACKED"][1]
    # Shopify refuses the whole call for one bad item: the adapter resends the rest.
    assert results["ELSEWHERE"][0] is False and "ITEM_NOT_STOCKED_AT_LOCATION" in results["ELSEWHERE"][1]
    assert inventory.available(SHOP, "A") == 1


def test_the_location_comes_from_credentials_when_set(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A"])
    warehouse = inventory.add_location(SHOP, "Warehouse")
    channel.credentials = {**channel.credentials, "location_id": str(warehouse)}
    channel.save()
    make_products("A")
    sell_on(channel, "A")
    apply_file(http_server, run_tasks, [("A", 8)])
    assert inventory.available(SHOP, "A", warehouse) == 8
    assert inventory.available(SHOP, "A") == 0  # the first location is untouched


def test_older_api_versions_use_ignore_compare_quantity(http_server, run_tasks, sandbox, inventory):
    sandbox.state.add_shop("legacy.myshopify.com", token="shpat_legacy", api_version="2025-10")
    channel = channel_create(
        kind="shopify",
        name="Legacy",
        api_base_url=sandbox.url,
        credentials={"shop": "legacy.myshopify.com", "access_token": "shpat_legacy", "api_version": "2025-10"},
        webhook_secret="s",
    )
    inventory.add_variants("legacy.myshopify.com", ["A"])
    make_products("A")
    sell_on(channel, "A")
    apply_file(http_server, run_tasks, [("A", 2)])
    (call,) = inventory.applied_calls("legacy.myshopify.com")
    assert call["key"] is None and call["input"]["ignoreCompareQuantity"] is True
    assert inventory.available("legacy.myshopify.com", "A") == 2


def test_a_failing_channel_keeps_the_rows_and_retries_then_gives_up_with_a_notification(
    http_server, run_tasks, sandbox, inventory, channel
):
    inventory.add_variants(SHOP, ["A"])
    make_products("A")
    sell_on(channel, "A")
    sandbox.state.faults.inject(503, count=9, operation="FeniciaSetInventory")
    apply_file(http_server, run_tasks, [("A", 5)])
    failure = StockPush.objects.get()
    assert failure.ok is False and "unavailable" in failure.message.lower()
    assert StockPushPending.objects.filter(channel=channel).count() == 1
    assert Schedule.objects.filter(func=push.PUSH_TASK, schedule_type=Schedule.ONCE).exists()
    for _ in range(2):
        with run_tasks():
            push.stock_push_batch(channel_id=channel.pk)
    assert StockPush.objects.filter(ok=False).count() == 3
    assert not StockPushPending.objects.exists()
    assert Notification.objects.filter(title__contains="stock could not be pushed").exists()
    assert inventory.available(SHOP, "A") == 0


def test_a_paused_channel_gets_nothing_until_resumed(http_server, run_tasks, sandbox, inventory, channel):
    from channels.services import channel_set_status

    inventory.add_variants(SHOP, ["A"])
    make_products("A")
    sell_on(channel, "A")
    channel_set_status(channel=channel, status="disabled")
    apply_file(http_server, run_tasks, [("A", 5)])
    assert inventory.applied_calls(SHOP) == []
    channel_set_status(channel=channel, status="connected")
    with run_tasks():
        services.channel_push_all(channel=channel)
    assert inventory.available(SHOP, "A") == 5


def test_a_new_buffer_repushes_what_the_channel_sells(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A"])
    make_products("A")
    sell_on(channel, "A")
    apply_file(http_server, run_tasks, [("A", 5)])
    with run_tasks():
        services.channel_stock_settings_update(channel=channel, push_enabled=True, safety_buffer=2)
    assert inventory.available(SHOP, "A") == 3
    assert Product.objects.get(sku="A").available == 5


def test_the_sweep_enqueues_channels_with_waiting_rows(http_server, run_tasks, sandbox, inventory, channel):
    inventory.add_variants(SHOP, ["A"])
    (product,) = make_products("A")
    sell_on(channel, "A")
    Product.objects.filter(pk=product.pk).update(available=6)
    StockPushPending.objects.create(channel=channel, product=product, requested_at="2026-11-20T00:00:00Z")
    with run_tasks():
        assert push.stock_push_sweep() == [channel.pk]
    assert inventory.available(SHOP, "A") == 6
