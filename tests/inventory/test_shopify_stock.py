"""`ShopifyAdapter.push_stock` against the sandbox marketplace over real sockets: variants by
SKU, the stock location, inventorySetQuantities with an idempotency key, per-item failures."""

from __future__ import annotations

import pytest

from channels.adapters.base import Capability, ChannelConnection, RateLimited, StockItem
from channels.adapters.shopify import ShopifyAdapter
from channels.http import HttpClient
from channels.sandbox import SandboxServer
from channels.sandbox.inventory import sandbox_inventory, sku_terms

SHOP = "stock-adapter.myshopify.com"
TOKEN = "shpat_stock_adapter"


@pytest.fixture
def sandbox():
    with SandboxServer(seed=11) as server:
        server.state.add_shop(SHOP, token=TOKEN)
        yield server


@pytest.fixture
def inventory(sandbox):
    return sandbox_inventory(sandbox.state)


def adapter(sandbox, **credentials) -> ShopifyAdapter:
    connection = ChannelConnection(
        channel_id=1,
        kind="shopify",
        credentials={"shop": SHOP, "access_token": TOKEN, **credentials},
        api_base_url=sandbox.url,
    )
    return ShopifyAdapter(connection)


def operations(sandbox) -> list[str]:
    return [r["operation"] for r in sandbox.state.requests]


def test_the_adapter_declares_push_stock():
    assert Capability.PUSH_STOCK in ShopifyAdapter.capabilities
    assert Capability.WEBHOOKS in ShopifyAdapter.capabilities


def test_push_stock_sets_available_for_every_variant_of_the_sku(sandbox, inventory):
    inventory.add_variants(SHOP, ["SHIRT-M", "SHIRT-M", 'QUOTE"D SKU'])
    results = adapter(sandbox).push_stock(
        [StockItem("SHIRT-M", 4), StockItem('QUOTE"D SKU', 2), StockItem("MUG-WHT", 0)]
    )
    assert [(r.sku, r.ok) for r in results] == [("SHIRT-M", True), ('QUOTE"D SKU', True), ("MUG-WHT", True)]
    (call,) = inventory.set_calls(SHOP)
    assert len(call["input"]["quantities"]) == 4  # two variants share SHIRT-M
    assert inventory.available(SHOP, 'QUOTE"D SKU') == 2
    assert operations(sandbox) == ["FeniciaVariantsBySku", "FeniciaLocations", "FeniciaSetInventory"]


def test_one_locations_query_per_adapter(sandbox, inventory):
    shop = adapter(sandbox)
    shop.push_stock([StockItem("MUG-WHT", 1)])
    shop.push_stock([StockItem("MUG-BLK", 1)])
    assert operations(sandbox).count("FeniciaLocations") == 1


def test_a_retry_after_a_lost_answer_is_not_applied_twice(sandbox, inventory):
    sandbox.state.faults.drop_after_processing(1, operation="FeniciaSetInventory")
    results = adapter(sandbox).push_stock([StockItem("MUG-WHT", 7)])
    assert results[0].ok
    calls = inventory.set_calls(SHOP)
    assert [(c["applied"], c["replayed"]) for c in calls] == [(True, False), (False, True)]
    assert calls[0]["key"] == calls[1]["key"]
    assert inventory.available(SHOP, "MUG-WHT") == 7


def test_throttling_is_retried_by_the_http_client(sandbox, inventory):
    sandbox.state.faults.throttle(1, operation="FeniciaSetInventory")
    results = adapter(sandbox).push_stock([StockItem("MUG-WHT", 3)])
    assert results[0].ok and inventory.available(SHOP, "MUG-WHT") == 3


def test_throttling_that_outlasts_the_retries_raises(sandbox, inventory):
    sandbox.state.faults.throttle(5, operation="FeniciaVariantsBySku")
    shop = ShopifyAdapter(
        ChannelConnection(
            channel_id=1, kind="shopify", credentials={"shop": SHOP, "access_token": TOKEN}, api_base_url=sandbox.url
        ),
        http=HttpClient(attempts=2),
    )
    with pytest.raises(RateLimited):
        shop.push_stock([StockItem("MUG-WHT", 3)])
    assert inventory.set_calls(SHOP) == []


def test_user_errors_fail_only_their_items(sandbox, inventory):
    inventory.add_variants(SHOP, ["NOT-HERE"], stocked=False)
    results = adapter(sandbox).push_stock([StockItem("MUG-WHT", 5), StockItem("NOT-HERE", 1)])
    by_sku = {r.sku: r for r in results}
    assert by_sku["MUG-WHT"].ok
    assert not by_sku["NOT-HERE"].ok and by_sku["NOT-HERE"].message.startswith("ITEM_NOT_STOCKED_AT_LOCATION")
    assert [c["applied"] for c in inventory.set_calls(SHOP)] == [False, True]


def test_the_sandbox_refuses_calls_without_the_2026_04_requirements(sandbox, inventory):
    import requests

    url = f"{sandbox.url}/admin/api/2026-10/graphql.json"
    headers = {"X-Shopify-Access-Token": TOKEN}
    item = inventory.add_variants(SHOP, ["RAW"])[0]
    stock_input = {
        "name": "available",
        "reason": "correction",
        "ignoreCompareQuantity": True,
        "quantities": [
            {
                "inventoryItemId": f"gid://shopify/InventoryItem/{item['item_id']}",
                "locationId": "gid://shopify/Location/1",
                "quantity": 1,
            }
        ],
    }
    no_key = requests.post(
        url,
        headers=headers,
        json={"query": ShopifyAdapter.STOCK_SET_MUTATION_LEGACY, "variables": {"input": stock_input}},
        timeout=5,
    ).json()
    assert "@idempotent" in no_key["errors"][0]["message"]
    with_key = requests.post(
        url,
        headers=headers,
        json={"query": ShopifyAdapter.STOCK_SET_MUTATION, "variables": {"input": stock_input, "idempotencyKey": "k"}},
        timeout=5,
    ).json()
    assert "ignoreCompareQuantity" in with_key["errors"][0]["message"]


def test_sku_search_terms_are_parsed_like_shopify_search():
    assert sku_terms('sku:"A B" OR sku:C OR sku:"Q\\"T"') == {"a b", "c", 'q"t'}
    assert sku_terms("title:shirt") is None


def test_the_sandbox_shows_and_takes_stock_over_its_control_endpoints(sandbox):
    import requests

    url = f"{sandbox.url}/_sandbox/shops/{SHOP}/inventory"
    added = requests.post(url, json={"skus": ["CTRL-1"]}, timeout=5)
    assert added.status_code == 201
    adapter(sandbox).push_stock([StockItem("CTRL-1", 6)])
    state = requests.get(url, timeout=5).json()
    variant = next(v for v in state["variants"] if v["sku"] == "CTRL-1")
    assert list(variant["levels"].values()) == [6]
    assert len(state["set_calls"]) == 1 and state["locations"][0]["name"] == "Shop location"
