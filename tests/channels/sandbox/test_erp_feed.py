"""The sandbox's ERP stock feed (the demo's inventory source) falls as the shops sell."""

import requests

from channels.sandbox import SandboxServer
from channels.sandbox.data import CATALOGUE


def feed(server) -> dict[str, int]:
    items = requests.get(server.url + "/_sandbox/erp/stock", timeout=5).json()["items"]
    return {item["sku"]: item["qty"] for item in items}


def test_the_feed_lists_every_catalogue_sku_and_subtracts_what_was_sold():
    with SandboxServer(seed=3) as server:
        server.state.add_shop("erp.myshopify.com", token="shpat_erp")
        before = {
            i["sku"]: i["qty"] for i in requests.get(server.url + "/_sandbox/erp/stock", timeout=5).json()["items"]
        }
        (order,) = server.state.create_orders("erp.myshopify.com", 1)
        after = {
            i["sku"]: i["qty"] for i in requests.get(server.url + "/_sandbox/erp/stock", timeout=5).json()["items"]
        }
    assert set(before) == {sku for sku, *_ in CATALOGUE}
    for line in order["line_items"]:
        assert after[line["sku"]] == max(0, before[line["sku"]] - line["current_quantity"])
