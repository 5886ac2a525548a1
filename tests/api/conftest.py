"""A fake Shopify GraphQL Admin API for the sync endpoints: one URL, answered by operation."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import load_fixture

GRAPHQL_URL = "https://test-shop.myshopify.com/admin/api/2026-10/graphql.json"


class FakeShopify:
    def __init__(self, nodes: list[dict]):
        self.nodes = {node["legacyResourceId"]: node for node in nodes}
        self.operations: list[str] = []

    def __call__(self, request):
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        if "FeniciaCountOrders" in query:
            self.operations.append("count")
            data = {"ordersCount": {"count": len(self.nodes), "precision": "EXACT"}}
        elif "FeniciaListOrders" in query:
            self.operations.append("list")
            data = {
                "orders": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": list(self.nodes.values())}
            }
        elif "FeniciaGetOrders" in query:
            self.operations.append("get")
            data = {"nodes": [self.nodes.get(gid.rsplit("/", 1)[-1]) for gid in variables["ids"]]}
        else:
            raise AssertionError(f"unexpected query: {query[:80]}")
        return 200, {"Content-Type": "application/json"}, json.dumps({"data": data})


@pytest.fixture
def shopify_nodes():
    """The two orders of the recorded page, as GraphQL order nodes."""
    return copy.deepcopy(load_fixture("shopify/graphql_orders_page.json")["data"]["orders"]["nodes"])


@pytest.fixture
def fake_shopify(mocked_responses, shopify_nodes):
    fake = FakeShopify(shopify_nodes)
    mocked_responses.add_callback("POST", GRAPHQL_URL, callback=fake, content_type="application/json")
    return fake
