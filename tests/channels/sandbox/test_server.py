"""The sandbox marketplace over real sockets: Shopify's API as the adapter uses it, control
endpoints, faults, tokens and webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from channels.adapters.shopify import COUNT_ORDERS, GET_ORDERS, LIST_ORDERS, MORE_LINE_ITEMS
from channels.sandbox import InvalidChange, SandboxServer, SandboxState, WebhookRecorder
from tests.conftest import load_fixture

SHOP = "demo.myshopify.com"
TOKEN = "shpat_sandbox_test"
SECRET = "shpss_sandbox_secret"
GRAPHQL = "/admin/api/2026-10/graphql.json"
INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def server():
    with SandboxServer(seed=42) as server:
        server.state.add_shop(
            SHOP,
            token=TOKEN,
            webhook_secret=SECRET,
            client_id="cid",
            client_secret="csecret",
            refresh_token="shprt_first",
        )
        yield server


@pytest.fixture
def recorder():
    with WebhookRecorder() as recorder:
        yield recorder


def gql(server, query, variables=None, *, token=TOKEN, timeout=5.0):
    return requests.post(
        server.url + GRAPHQL,
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token},
        timeout=timeout,
    )


def control(server, method, path, body=None):
    return requests.request(method, server.url + path, json=body, timeout=5)


def gid(order):
    return f"gid://shopify/Order/{order['id']}"


def all_pages(server, variables):
    nodes, cursors, after = [], [], None
    while True:
        payload = gql(server, LIST_ORDERS, {**variables, "after": after}).json()
        connection = payload["data"]["orders"]
        nodes += connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, cursors
        after = connection["pageInfo"]["endCursor"]
        cursors.append(after)


# -- auth ------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["", "shpat_wrong"])
def test_it_refuses_a_missing_or_wrong_token(server, token):
    response = gql(server, COUNT_ORDERS, token=token)
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN_BODY
    assert server.state.requests[-1]["status"] == 401


def test_a_revoked_token_is_refused(server):
    assert gql(server, COUNT_ORDERS).status_code == 200
    assert server.state.revoke_token(SHOP, TOKEN) == 1
    assert gql(server, COUNT_ORDERS).status_code == 401


def test_refresh_rotates_the_token_pair(server):
    url = server.url + "/admin/oauth/access_token"
    grant = {
        "client_id": "cid",
        "client_secret": "csecret",
        "grant_type": "refresh_token",
        "refresh_token": "shprt_first",
    }
    first = requests.post(url, json=grant, timeout=5)
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "refresh_token_expires_in", "scope"}
    assert body["expires_in"] == 3600 and body["refresh_token"] != "shprt_first"
    assert gql(server, COUNT_ORDERS, token=body["access_token"]).status_code == 200

    reused = requests.post(url, json=grant, timeout=5)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    second = requests.post(url, json={**grant, "refresh_token": body["refresh_token"]}, timeout=5)
    assert second.status_code == 200
    bad_client = requests.post(url, json={**grant, "client_secret": "nope"}, timeout=5)
    assert (bad_client.status_code, bad_client.json()["error"]) == (401, "invalid_client")


def test_refreshed_access_tokens_expire_after_an_hour():
    now = [T0]
    with SandboxServer(clock=lambda: now[0]) as server:
        server.state.add_shop(SHOP, token=TOKEN, client_id="cid", client_secret="s", refresh_token="shprt_1")
        status, body = server.state.refresh_access_token(
            {"client_id": "cid", "client_secret": "s", "grant_type": "refresh_token", "refresh_token": "shprt_1"}
        )
        assert status == 200
        assert gql(server, COUNT_ORDERS, token=body["access_token"]).status_code == 200
        now[0] = T0 + timedelta(seconds=3601)
        assert gql(server, COUNT_ORDERS, token=body["access_token"]).status_code == 401
        assert gql(server, COUNT_ORDERS).status_code == 200  # static tokens don't expire


# -- reading orders --------------------------------------------------------------------------
def test_it_pages_orders_by_updated_at_with_opaque_cursors(server):
    server.state.create_orders(SHOP, 25, spread_days=3)
    for _ in range(3):  # ties on updated_at are broken by id
        server.state.create_orders(SHOP, 1, updated_at=T0)
    nodes, cursors = all_pages(server, {"first": 10, "query": None})
    ids = [n["legacyResourceId"] for n in nodes]
    assert len(ids) == len(set(ids)) == 28
    keys = [(n["updatedAt"], int(n["legacyResourceId"])) for n in nodes]
    assert keys == sorted(keys)
    assert len(cursors) == 2
    assert set(json.loads(base64.b64decode(cursors[0]))) == {"last_id", "last_value"}


def test_it_honours_the_search_window_the_adapter_builds(server):
    for hour in range(5):
        server.state.create_orders(SHOP, 2, updated_at=T0 + timedelta(hours=hour))
    query = "updated_at:>='2026-11-20T10:00:00Z' AND updated_at:<='2026-11-20T12:00:00Z'"
    nodes, _ = all_pages(server, {"first": 10, "query": query})
    assert sorted({n["updatedAt"] for n in nodes}) == [
        "2026-11-20T10:00:00Z",
        "2026-11-20T11:00:00Z",
        "2026-11-20T12:00:00Z",
    ]
    assert len(nodes) == 6
    count = gql(server, COUNT_ORDERS, {"query": query}).json()["data"]["ordersCount"]
    assert count == {"count": 6, "precision": "EXACT"}
    only_after = gql(server, COUNT_ORDERS, {"query": "updated_at:>'2026-11-20T12:00:00Z'"}).json()
    assert only_after["data"]["ordersCount"]["count"] == 2


def test_search_knows_shopify_fields_and_warns_about_unknown_ones(server):
    server.state.create_orders(SHOP, 3, financial_status="pending", tags=["vip"])
    server.state.create_orders(SHOP, 2, financial_status="paid", tags=[])
    count = lambda q: gql(server, COUNT_ORDERS, {"query": q}).json()  # noqa: E731
    assert count("financial_status:pending")["data"]["ordersCount"]["count"] == 3
    assert count("tag:vip OR financial_status:paid")["data"]["ordersCount"]["count"] == 5
    assert count("-tag:vip")["data"]["ordersCount"]["count"] == 2
    unknown = count("colour:blue")
    assert unknown["data"]["ordersCount"]["count"] == 5
    assert unknown["extensions"]["search"][0]["warnings"][0]["field"] == "colour"


def test_nodes_are_null_for_unknown_and_deleted_orders(server):
    kept, deleted = server.state.create_orders(SHOP, 2)
    server.state.delete_order(SHOP, deleted["id"])
    ids = [gid(kept), gid(deleted), "gid://shopify/Order/1"]
    nodes = gql(server, GET_ORDERS, {"ids": ids}).json()["data"]["nodes"]
    assert [n and n["legacyResourceId"] for n in nodes] == [str(kept["id"]), None, None]


def test_long_orders_page_their_line_items(server):
    (order,) = server.state.create_orders(SHOP, 1, lines=45)
    node = gql(server, GET_ORDERS, {"ids": [gid(order)]}).json()["data"]["nodes"][0]
    assert len(node["lineItems"]["nodes"]) == 20 and node["lineItems"]["pageInfo"]["hasNextPage"]
    more = gql(server, MORE_LINE_ITEMS, {"id": gid(order), "after": node["lineItems"]["pageInfo"]["endCursor"]})
    rest = more.json()["data"]["order"]["lineItems"]
    assert len(rest["nodes"]) == 25 and not rest["pageInfo"]["hasNextPage"]
    line_ids = [li["id"] for li in node["lineItems"]["nodes"] + rest["nodes"]]
    assert len(set(line_ids)) == 45


def test_the_order_node_has_exactly_the_fragments_fields(server):
    (order,) = server.state.create_orders(SHOP, 1, fulfillment_status="fulfilled", tags="vip, gift")
    node = gql(server, GET_ORDERS, {"ids": [gid(order)]}).json()["data"]["nodes"][0]
    expected = set(load_fixture("shopify/graphql_orders_page.json")["data"]["orders"]["nodes"][0])
    assert set(node) == expected
    assert node["legacyResourceId"] == str(order["id"]) and node["id"] == gid(order)
    assert set(node["totalPriceSet"]) == {"shopMoney"}
    assert set(node["totalPriceSet"]["shopMoney"]) == {"amount", "currencyCode"}
    assert node["tags"] == ["gift", "vip"] and node["displayFulfillmentStatus"] == "FULFILLED"
    (fulfillment,) = node["fulfillments"]
    assert set(fulfillment) == {"id", "status", "displayStatus", "createdAt", "trackingInfo"}
    assert set(fulfillment["trackingInfo"][0]) == {"company", "number", "url"}


def test_money_is_rendered_as_shopify_decimals(server):
    (order,) = server.state.create_orders(
        SHOP,
        1,
        lines=[{"sku": "MUG-WHT", "quantity": 2, "price": "12.50"}],
        discount="0",
        shipping_price="10",
        tax_rate="0",
    )
    node = gql(server, GET_ORDERS, {"ids": [gid(order)]}).json()["data"]["nodes"][0]
    assert node["subtotalPriceSet"]["shopMoney"] == {"amount": "25.0", "currencyCode": "USD"}
    assert node["totalPriceSet"]["shopMoney"]["amount"] == "35.0"
    assert node["lineItems"]["nodes"][0]["originalUnitPriceSet"]["shopMoney"]["amount"] == "12.5"


def test_aliases_edges_and_reverse_paging_work_like_graphql(server):
    for minutes in range(5):
        server.state.create_orders(SHOP, 1, updated_at=T0 + timedelta(minutes=minutes))
    query = """query FeniciaListOrders($after: String) {
      newest: orders(first: 2, after: $after, sortKey: UPDATED_AT, reverse: true) {
        edges { cursor node { __typename when: updatedAt } }
        pageInfo { hasNextPage }
      }
    }"""
    first = gql(server, query).json()["data"]["newest"]
    assert [e["node"] for e in first["edges"]] == [
        {"__typename": "Order", "when": "2026-11-20T09:04:00Z"},
        {"__typename": "Order", "when": "2026-11-20T09:03:00Z"},
    ]
    second = gql(server, query, {"after": first["edges"][-1]["cursor"]}).json()["data"]["newest"]
    assert [e["node"]["when"][11:16] for e in second["edges"]] == ["09:02", "09:01"]
    assert second["pageInfo"]["hasNextPage"]


# -- query cost ------------------------------------------------------------------------------
def test_every_response_reports_its_cost(server):
    server.state.create_orders(SHOP, 3)
    listed = gql(server, LIST_ORDERS, {"first": 10}).json()
    cost = listed["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 962  # what the adapter's page size is computed from
    assert 0 < cost["actualQueryCost"] < 962
    assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}
    assert gql(server, COUNT_ORDERS).json()["extensions"]["cost"]["requestedQueryCost"] == 1


def test_a_query_over_1000_points_is_refused(server):
    payload = gql(server, LIST_ORDERS, {"first": 11}).json()
    assert "data" not in payload
    assert payload["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert payload["extensions"]["cost"]["requestedQueryCost"] == 1058


def test_first_over_250_is_refused(server):
    query = "query FeniciaCountOrders { orders(first: 251) { nodes { id } } }"
    payload = gql(server, query).json()
    assert payload["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "250" in payload["errors"][0]["message"]


def test_an_empty_bucket_answers_throttled(server):
    server.state.create_orders(SHOP, 10)
    server.state.set_throttle(SHOP, maximum=1000, restore_rate=0.001)
    assert "data" in gql(server, LIST_ORDERS, {"first": 10}).json()
    throttled = gql(server, LIST_ORDERS, {"first": 10})
    assert throttled.status_code == 200
    payload = throttled.json()
    assert payload["errors"][0]["extensions"]["code"] == "THROTTLED"
    cost = payload["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 962 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"]["currentlyAvailable"] < 962
    server.state.set_throttle(SHOP, available=1000)
    assert "data" in gql(server, LIST_ORDERS, {"first": 10}).json()


# -- GraphQL errors --------------------------------------------------------------------------
def test_operations_the_adapter_does_not_send_get_a_graphql_error(server):
    response = gql(server, "query SomethingElse { shop { name } }")
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_OPERATION"


def test_fields_the_sandbox_does_not_model_are_reported(server):
    (order,) = server.state.create_orders(SHOP, 1)
    query = "query FeniciaGetOrders($ids: [ID!]!) { nodes(ids: $ids) { ... on Order { id riskLevel } } }"
    error = gql(server, query, {"ids": [gid(order)]}).json()["errors"][0]
    assert error["message"] == "Field 'riskLevel' doesn't exist on type 'Order'"


def test_syntax_errors_are_reported_with_a_location(server):
    error = gql(server, "query FeniciaCountOrders { ordersCount(query: ) { count }").json()["errors"][0]
    assert error["extensions"]["code"] == "PARSE_ERROR"
    assert error["extensions"]["locations"][0]["line"] == 1


# -- faults ----------------------------------------------------------------------------------
def test_injected_statuses_hit_the_next_api_calls_only(server):
    server.state.faults.inject(status=503, count=2)
    assert control(server, "GET", "/_sandbox/requests").status_code == 200  # control calls are exempt
    assert [gql(server, COUNT_ORDERS).status_code for _ in range(3)] == [503, 503, 200]
    assert server.state.request_counts()["by_status"] == {"503": 2, "200": 1}
    assert len(server.state.faults) == 0


def test_a_429_carries_retry_after(server):
    server.state.faults.inject(status=429, retry_after=2.0)
    response = gql(server, COUNT_ORDERS)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2.0")
    assert "Exceeded 2 calls per second" in response.json()["errors"]


def test_path_contains_narrows_a_fault(server):
    server.state.faults.inject(status=500, path_contains="oauth")
    assert gql(server, COUNT_ORDERS).status_code == 200
    assert requests.post(server.url + "/admin/oauth/access_token", json={}, timeout=5).status_code == 500


def test_an_injected_401_looks_like_an_expired_token(server):
    server.state.faults.inject(status=401)
    response = gql(server, COUNT_ORDERS)
    assert (response.status_code, response.json()) == (401, INVALID_TOKEN_BODY)


def test_slow_answers_late(server):
    server.state.faults.slow(0.2)
    started = time.monotonic()
    assert gql(server, COUNT_ORDERS).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_drop_closes_the_connection_without_an_answer(server):
    server.state.faults.drop()
    with pytest.raises(requests.ConnectionError):
        gql(server, COUNT_ORDERS)
    assert gql(server, COUNT_ORDERS).status_code == 200
    assert server.state.requests[0]["fault"] == "drop" and server.state.requests[0]["status"] is None


def test_timeout_keeps_quiet_past_the_read_timeout(server):
    server.state.faults.timeout(seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        gql(server, COUNT_ORDERS, timeout=0.2)


def test_an_injected_throttle_is_a_graphql_throttled(server):
    server.state.faults.throttle()
    payload = gql(server, LIST_ORDERS, {"first": 10}).json()
    assert payload["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert payload["extensions"]["cost"]["requestedQueryCost"] == 962


def test_faults_are_validated():
    state = SandboxState()
    with pytest.raises(InvalidChange):
        state.faults.inject(status=200)
    with pytest.raises(InvalidChange):
        state.faults.add({"kind": "explode"})


# -- webhooks --------------------------------------------------------------------------------
def test_webhooks_are_signed_with_the_subscription_secret(server, recorder):
    (order,) = server.state.create_orders(SHOP, 1)
    server.state.subscribe(SHOP, recorder.url, SECRET)
    assert server.send_webhook(SHOP, "orders/updated", order["id"]) == [200]
    (delivery,) = recorder.deliveries
    expected = base64.b64encode(hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).digest()).decode()
    assert delivery.headers["X-Shopify-Hmac-Sha256"] == expected
    assert delivery.headers["X-Shopify-Topic"] == "orders/updated"
    assert delivery.headers["X-Shopify-Shop-Domain"] == SHOP
    assert delivery.headers["X-Shopify-API-Version"] == "2026-10"
    for header in ("X-Shopify-Webhook-Id", "X-Shopify-Event-Id", "X-Shopify-Triggered-At"):
        assert delivery.headers[header]
    assert json.loads(delivery.body)["id"] == order["id"]


def test_the_webhook_body_has_the_rest_resource_shape(server):
    (order,) = server.state.create_orders(SHOP, 1, fulfillment_status="partial", lines=2, tags=["vip", "gift"])
    body = server.state.rest_order(SHOP, order["id"])
    fixture = load_fixture("shopify/webhook_orders_create.json")
    assert set(fixture) <= set(body)
    assert set(fixture["line_items"][0]) <= set(body["line_items"][0])
    assert set(fixture["shipping_address"]) <= set(body["shipping_address"])
    assert set(fixture["customer"]) <= set(body["customer"])
    assert isinstance(body["id"], int) and body["name"] == order["name"]
    assert body["updated_at"].endswith("-03:00")
    assert body["financial_status"] == order["financial_status"] and body["fulfillment_status"] == "partial"
    assert body["tags"] == "gift, vip"
    assert body["total_price"].count(".") == 1 and len(body["total_price"].split(".")[1]) == 2


def test_a_duplicate_resends_the_same_delivery(server, recorder):
    (order,) = server.state.create_orders(SHOP, 1)
    server.state.subscribe(SHOP, recorder.url, SECRET)
    assert server.send_webhook(SHOP, "orders/updated", order["id"], duplicate=True) == [200, 200]
    first, second = recorder.deliveries
    assert first.body == second.body
    assert first.headers["X-Shopify-Webhook-Id"] == second.headers["X-Shopify-Webhook-Id"]


def test_out_of_order_sends_the_older_version_last(server, recorder):
    (order,) = server.state.create_orders(SHOP, 1, financial_status="pending")
    server.state.subscribe(SHOP, recorder.url, SECRET)
    assert server.send_out_of_order(SHOP, order["id"], financial_status="paid") == [200, 200]
    newer, older = (json.loads(d.body) for d in recorder.deliveries)
    assert (newer["financial_status"], older["financial_status"]) == ("paid", "pending")
    assert datetime.fromisoformat(older["updated_at"]) < datetime.fromisoformat(newer["updated_at"])


def test_order_changes_notify_subscribers_when_asked(server, recorder):
    server.state.subscribe(SHOP, recorder.url, SECRET)
    server.state.create_orders(SHOP, 1)  # auto_webhooks is off by default
    assert recorder.deliveries == []
    (order,) = server.state.create_orders(SHOP, 1, notify=True)
    server.state.auto_webhooks = True
    server.state.update_order(SHOP, order["id"], note="ring twice")
    server.state.create_orders(SHOP, 1, notify=False)
    topics = [d.headers["X-Shopify-Topic"] for d in recorder.deliveries]
    assert topics == ["orders/create", "orders/updated"]
    assert [d["status"] for d in server.state.deliveries] == [200, 200]


def test_a_kept_body_can_be_sent_later_as_a_new_delivery(server, recorder):
    (order,) = server.state.create_orders(SHOP, 1, note="old")
    server.state.subscribe(SHOP, recorder.url, SECRET)
    older = server.state.webhook_body(SHOP, order["id"])
    server.state.update_order(SHOP, order["id"], note="new")
    assert server.send_webhook(SHOP, "orders/updated", order["id"]) == [200]
    assert server.send_raw_webhook(SHOP, "orders/updated", older) == [200]
    newer_delivery, older_delivery = recorder.deliveries
    assert older_delivery.body == older and json.loads(older)["note"] == "old"
    assert newer_delivery.headers["X-Shopify-Webhook-Id"] != older_delivery.headers["X-Shopify-Webhook-Id"]


def test_an_unreachable_subscriber_is_recorded_not_raised(server):
    (order,) = server.state.create_orders(SHOP, 1)
    server.state.subscribe(SHOP, "http://127.0.0.1:9/nowhere", SECRET)
    assert server.send_webhook(SHOP, "orders/updated", order["id"]) == [None]
    assert server.state.deliveries[-1]["error"]


# -- state -----------------------------------------------------------------------------------
def test_a_seed_makes_the_orders_repeatable():
    def orders(seed):
        state = SandboxState(seed, clock=lambda: T0)
        state.add_shop(SHOP)
        return state.create_orders(SHOP, 5, spread_days=2)

    assert orders(7) == orders(7)
    assert orders(7) != orders(8)


def test_generated_orders_look_like_a_shop():
    state = SandboxState(3)
    state.add_shop(SHOP)
    orders = state.create_orders(SHOP, 60, spread_days=7)
    assert [o["name"] for o in orders[:2]] == ["#1001", "#1002"]
    assert all(1 <= len(o["line_items"]) <= 4 for o in orders)
    assert all(o["email"].endswith("@example.com") and o["shipping_address"]["city"] for o in orders)
    assert len({o["financial_status"] for o in orders}) > 1
    assert {li["sku"] for o in orders for li in o["line_items"]} >= {"MUG-WHT", "TSHIRT-M-BLK"}
    assert all(o["created_at"] <= o["updated_at"] for o in orders)


def test_updates_walk_an_order_through_its_life(server):
    (order,) = server.state.create_orders(SHOP, 1, financial_status="authorized", lines=2)
    paid = server.state.update_order(SHOP, order["id"], financial_status="paid")
    shipped = server.state.update_order(
        SHOP, order["id"], add_fulfillment={"tracking_company": "UPS", "tracking_number": "1Z999AA10123456784"}
    )
    delivered = server.state.update_order(SHOP, order["id"], delivered=True)
    stamps = [o["updated_at"] for o in (order, paid, shipped, delivered)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert (shipped["fulfillment_status"], shipped["closed_at"] is not None) == ("fulfilled", True)
    assert delivered["fulfillments"][0]["shipment_status"] == "delivered"
    node = gql(server, GET_ORDERS, {"ids": [gid(order)]}).json()["data"]["nodes"][0]
    assert node["fulfillments"][0]["trackingInfo"][0]["number"] == "1Z999AA10123456784"
    assert node["fulfillments"][0]["displayStatus"] == "DELIVERED"


def test_cancelling_refunds_and_closes(server):
    (order,) = server.state.create_orders(SHOP, 1, financial_status="paid")
    cancelled = server.state.update_order(SHOP, order["id"], cancel="customer")
    assert (cancelled["financial_status"], cancelled["cancel_reason"]) == ("refunded", "customer")
    assert cancelled["cancelled_at"] == cancelled["closed_at"] == cancelled["updated_at"]


def test_a_bad_change_leaves_the_order_alone(server):
    (order,) = server.state.create_orders(SHOP, 1)
    with pytest.raises(InvalidChange):
        server.state.update_order(SHOP, order["id"], note="x", financial_status="lost")
    assert server.state.get_order(SHOP, order["id"]) == order


def test_the_generator_creates_and_updates_orders_and_notifies(server, recorder):
    server.state.create_orders(SHOP, 3, notify=False)
    server.state.subscribe(SHOP, recorder.url, SECRET)
    generator = server.start_generator(SHOP, 0.005, update_ratio=0.5)
    recorder.wait_for(8)
    server.stop_generator(SHOP)
    assert not generator.running
    topics = {d.headers["X-Shopify-Topic"] for d in recorder.deliveries}
    assert topics == {"orders/create", "orders/updated"}
    assert len(server.state.list_orders(SHOP)) > 3


# -- control endpoints -----------------------------------------------------------------------
def test_control_endpoints_drive_the_sandbox(server, recorder):
    base = f"/_sandbox/shops/{SHOP}"
    created = control(server, "POST", base + "/orders", {"count": 3, "financial_status": "pending"})
    assert created.status_code == 201
    ids = [o["id"] for o in created.json()["orders"]]
    assert control(server, "POST", base + "/webhooks", {"url": recorder.url, "secret": SECRET}).status_code == 201

    updated = control(server, "POST", f"{base}/orders/{ids[0]}/update", {"financial_status": "paid"})
    assert updated.json()["order"]["financial_status"] == "paid"
    assert control(server, "DELETE", f"{base}/orders/{ids[1]}").status_code == 200
    listed = control(server, "GET", base + "/orders").json()["orders"]
    assert sorted(o["id"] for o in listed) == sorted([ids[0], ids[2]])
    sent = control(server, "POST", f"{base}/orders/{ids[2]}/webhooks", {"duplicate": True})
    assert sent.json() == {"statuses": [200, 200]}

    assert control(server, "POST", "/_sandbox/faults", {"status": 503, "count": 1}).status_code == 201
    assert gql(server, COUNT_ORDERS).status_code == 503
    assert gql(server, COUNT_ORDERS).json()["data"]["ordersCount"]["count"] == 2
    log = control(server, "GET", "/_sandbox/requests").json()
    assert log["counts"]["total"] == 2 and log["counts"]["by_operation"] == {"FeniciaCountOrders": 2}
    assert [(r["operation"], r["status"]) for r in log["requests"]] == [
        ("FeniciaCountOrders", 503),
        ("FeniciaCountOrders", 200),
    ]

    assert control(server, "GET", base + "/orders/999").status_code == 404
    assert control(server, "GET", "/_sandbox/shops/nope.myshopify.com/orders").status_code == 404
    assert control(server, "POST", f"{base}/orders/{ids[0]}/update", {"colour": "red"}).status_code == 400
