"""The real ShopifyAdapter's outbound actions against the sandbox marketplace over real sockets:
shipments, tracking and cancellations reach the sandbox's shop exactly once, whatever the network
does in between (design.md invariant 6), and the sandbox answers the way Shopify does."""

from __future__ import annotations

import pytest
import requests

from channels.adapters.base import (
    CancelPush,
    ChannelConnection,
    InvalidData,
    ShipmentPush,
    ShipmentPushLine,
    TrackingPush,
    TransientError,
)
from channels.adapters.shopify import (
    FULFILLMENT_CREATE,
    FULFILLMENT_STATE,
    FULFILLMENT_STATE_COST,
    ORDER_CANCEL,
    ShopifyAdapter,
)
from channels.http import HttpClient
from channels.sandbox import SandboxServer, WebhookRecorder

pytestmark = pytest.mark.e2e

SHOP = "outbound-shop.myshopify.com"
TOKEN = "shpat_outbound_token"
SECRET = "shpss_outbound_webhook_secret"
GRAPHQL = "/admin/api/2026-10/graphql.json"


@pytest.fixture
def sandbox():
    with SandboxServer(seed=20261121) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret=SECRET)
        yield server


def adapter_for(server, **http_options) -> ShopifyAdapter:
    return ShopifyAdapter(
        ChannelConnection(
            channel_id=1,
            kind="shopify",
            credentials={"shop": SHOP, "access_token": TOKEN},
            api_base_url=server.url,
            webhook_secret=SECRET,
        ),
        http=HttpClient(**http_options) if http_options else None,
    )


def paid_order(server, *quantities: int, **fields) -> dict:
    lines = [
        {"sku": sku, "quantity": q} for sku, q in zip(("MUG-WHT", "CAP-NVY", "TOTE-NAT"), quantities, strict=False)
    ]
    (order,) = server.state.create_orders(SHOP, 1, lines=lines, financial_status="paid", **fields)
    return order


def line_ids(order) -> list[str]:
    return [str(li["id"]) for li in order["line_items"]]


def ship(order, *lines: tuple[str, int], **fields) -> ShipmentPush:
    return ShipmentPush(
        order_external_id=str(order["id"]),
        lines=tuple(ShipmentPushLine(line_external_id=line, quantity=quantity) for line, quantity in lines),
        **fields,
    )


def created_fulfillments(server) -> int:
    return len(server.state.mutations("fulfillmentCreate", ok=True))


# -- shipping ----------------------------------------------------------------------------------
def test_a_partial_shipment_then_the_rest_fulfils_the_order(sandbox):
    order = paid_order(sandbox, 3, 1)
    mug, cap = line_ids(order)
    adapter = adapter_for(sandbox)

    first = adapter.push_shipment(ship(order, (mug, 2), carrier="UPS", tracking_number="1Z999AA10000000001"))
    assert not first.already_done
    (fulfillment,) = sandbox.state.fulfillments(SHOP, order["id"])
    assert str(fulfillment["id"]) == first.external_id
    assert fulfillment["line_items"] == {int(mug): 2}
    assert fulfillment["tracking_url"] == "https://www.ups.com/track?tracknum=1Z999AA10000000001"
    partly = adapter.fetch_order(str(order["id"]))
    assert (partly.fulfillment_status, partly.status) == ("partially_fulfilled", "accepted")
    assert partly.source_updated_at > order["updated_at"]
    (fo,) = sandbox.state.fulfillment_orders(SHOP, order["id"])
    assert fo["status"] == "IN_PROGRESS"
    assert [fl["remaining_quantity"] for fl in fo["line_items"]] == [1, 1]

    rest = adapter.push_shipment(
        ship(order, (mug, 1), (cap, 1), carrier="USPS", tracking_number="9400100000000000000001")
    )
    assert rest.external_id != first.external_id
    done = adapter.fetch_order(str(order["id"]))
    assert (done.fulfillment_status, done.status) == ("fulfilled", "shipped")
    assert sorted(s.tracking_number for s in done.shipments) == ["1Z999AA10000000001", "9400100000000000000001"]
    assert sandbox.state.get_order(SHOP, order["id"])["fulfillment_status"] == "fulfilled"
    assert sandbox.state.fulfillment_orders(SHOP, order["id"])[0]["status"] == "CLOSED"
    assert created_fulfillments(sandbox) == 2


def test_pushing_the_same_shipment_again_is_already_done(sandbox):
    order = paid_order(sandbox, 2)
    (mug,) = line_ids(order)
    adapter = adapter_for(sandbox)
    push = ship(order, (mug, 1), carrier="FedEx", tracking_number="794600000001")
    first = adapter.push_shipment(push)
    again = adapter.push_shipment(push)
    assert (again.external_id, again.already_done) == (first.external_id, True)
    assert len(sandbox.state.fulfillments(SHOP, order["id"])) == 1


def test_shipping_more_than_remains_is_refused_before_anything_is_sent(sandbox):
    order = paid_order(sandbox, 2)
    (mug,) = line_ids(order)
    adapter = adapter_for(sandbox)
    adapter.push_shipment(ship(order, (mug, 1), tracking_number="FIRST"))
    with pytest.raises(InvalidData, match="asked to ship 2, but only 1 remain unfulfilled"):
        adapter.push_shipment(ship(order, (mug, 2), tracking_number="SECOND"))
    assert created_fulfillments(sandbox) == 1 and len(sandbox.state.mutation_log) == 1


def test_shipping_an_order_cancelled_at_the_channel_is_refused(sandbox):
    order = paid_order(sandbox, 1)
    sandbox.state.update_order(SHOP, order["id"], cancel="customer")
    with pytest.raises(InvalidData, match="cancelled at the channel"):
        adapter_for(sandbox).push_shipment(ship(order, (line_ids(order)[0], 1), tracking_number="1Z"))
    assert sandbox.state.mutation_log == []


def test_a_line_beyond_the_first_page_of_a_long_order_ships(sandbox):
    (order,) = sandbox.state.create_orders(SHOP, 1, lines=45, financial_status="paid")
    last = order["line_items"][-1]
    adapter = adapter_for(sandbox)
    result = adapter.push_shipment(ship(order, (str(last["id"]), last["quantity"]), tracking_number="LONG-1"))
    (fulfillment,) = sandbox.state.fulfillments(SHOP, order["id"])
    assert (str(fulfillment["id"]), fulfillment["line_items"]) == (result.external_id, {last["id"]: last["quantity"]})
    assert "FeniciaMoreFulfillmentOrderLines" in [r["operation"] for r in sandbox.state.requests]


# -- the network misbehaving -------------------------------------------------------------------
def test_accept_then_drop_then_retry_is_already_done_with_one_fulfilment(sandbox):
    order = paid_order(sandbox, 2, 1)
    mug, cap = line_ids(order)
    adapter = adapter_for(sandbox, attempts=1)  # one attempt per call: the drop surfaces
    sandbox.state.faults.drop_after_processing(operation="FeniciaFulfillmentCreate")
    push = ship(order, (mug, 2), (cap, 1), carrier="UPS", tracking_number="1Z999AA10000000777")

    with pytest.raises(TransientError):
        adapter.push_shipment(push)
    (fulfillment,) = sandbox.state.fulfillments(SHOP, order["id"])  # it did happen

    retry = adapter.push_shipment(push)
    assert (retry.external_id, retry.already_done) == (str(fulfillment["id"]), True)
    assert len(sandbox.state.fulfillments(SHOP, order["id"])) == 1
    assert created_fulfillments(sandbox) == 1
    dropped = [r for r in sandbox.state.requests if r["operation"] == "FeniciaFulfillmentCreate"]
    assert [(r["status"], r["fault"]) for r in dropped] == [(200, "drop_after_processing")]


def test_accept_then_drop_of_an_untracked_full_shipment_is_already_done_on_retry(sandbox):
    order = paid_order(sandbox, 1, 2)
    adapter = adapter_for(sandbox, attempts=1)
    sandbox.state.faults.drop_after_processing(operation="FeniciaFulfillmentCreate")
    push = ship(order, *((line, qty) for line, qty in zip(line_ids(order), (1, 2), strict=True)))
    with pytest.raises(TransientError):
        adapter.push_shipment(push)
    retry = adapter.push_shipment(push)
    assert retry.already_done
    assert [str(f["id"]) for f in sandbox.state.fulfillments(SHOP, order["id"])] == [retry.external_id]


def test_with_retries_one_call_survives_accept_then_drop_without_a_duplicate(sandbox):
    order = paid_order(sandbox, 3)
    (mug,) = line_ids(order)
    sandbox.state.faults.drop_after_processing(operation="FeniciaFulfillmentCreate")
    result = adapter_for(sandbox).push_shipment(ship(order, (mug, 1)))  # untracked and partial
    (fulfillment,) = sandbox.state.fulfillments(SHOP, order["id"])
    assert (result.external_id, result.already_done) == (str(fulfillment["id"]), False)
    assert result.details == {"confirmed_after": 1}
    assert [r["operation"] for r in sandbox.state.requests] == [
        "FeniciaFulfillmentState",
        "FeniciaFulfillmentCreate",
        "FeniciaFulfillmentState",
    ]


@pytest.mark.parametrize(
    "inject",
    [
        lambda faults: faults.inject(status=503, operation="FeniciaFulfillmentCreate"),
        lambda faults: faults.inject(status=429, retry_after=0.1, operation="FeniciaFulfillmentCreate"),
        lambda faults: faults.throttle(operation="FeniciaFulfillmentCreate"),
        lambda faults: faults.timeout(seconds=1.0, operation="FeniciaFulfillmentCreate"),
        lambda faults: faults.drop(operation="FeniciaFulfillmentCreate"),
    ],
    ids=["503", "429", "throttled", "timeout", "drop"],
)
def test_a_mutation_refused_or_lost_before_processing_is_sent_again_once(sandbox, inject):
    order = paid_order(sandbox, 2)
    (mug,) = line_ids(order)
    inject(sandbox.state.faults)
    adapter = adapter_for(sandbox, timeout=(1.0, 0.3))
    result = adapter.push_shipment(ship(order, (mug, 1), tracking_number="RETRY-1"))
    assert not result.already_done
    assert len(sandbox.state.fulfillments(SHOP, order["id"])) == 1
    sent = [r for r in sandbox.state.requests if r["operation"] == "FeniciaFulfillmentCreate"]
    assert len(sent) == 2 and sent[0]["fault"] is not None


def test_a_mutation_that_keeps_failing_raises_after_the_last_attempt(sandbox):
    order = paid_order(sandbox, 1)
    sandbox.state.faults.inject(status=503, count=3, operation="FeniciaFulfillmentCreate")
    with pytest.raises(TransientError):
        adapter_for(sandbox).push_shipment(ship(order, (line_ids(order)[0], 1)))
    assert sandbox.state.fulfillments(SHOP, order["id"]) == []


# -- tracking and cancelling -------------------------------------------------------------------
def test_tracking_added_later_reaches_the_fulfilment(sandbox):
    order = paid_order(sandbox, 1)
    adapter = adapter_for(sandbox)
    shipped = adapter.push_shipment(ship(order, (line_ids(order)[0], 1)))
    assert sandbox.state.fulfillments(SHOP, order["id"])[0]["tracking_number"] is None
    before = sandbox.state.get_order(SHOP, order["id"])["updated_at"]

    push = TrackingPush(str(order["id"]), shipped.external_id, carrier="DHL Express", tracking_number="1234567890")
    result = adapter.push_tracking(push)
    assert result.external_id == shipped.external_id
    assert adapter.push_tracking(push).external_id == shipped.external_id  # the same again changes nothing
    (fulfillment,) = sandbox.state.fulfillments(SHOP, order["id"])
    assert (fulfillment["tracking_company"], fulfillment["tracking_number"]) == ("DHL Express", "1234567890")
    assert fulfillment["tracking_url"].endswith("AWB=1234567890")
    fetched = adapter.fetch_order(str(order["id"]))
    assert fetched.shipments[0].tracking_number == "1234567890" and fetched.source_updated_at > before


def test_tracking_for_an_unknown_fulfilment_is_refused(sandbox):
    with pytest.raises(InvalidData, match="Fulfillment does not exist"):
        adapter_for(sandbox).push_tracking(TrackingPush("1", "4800000000001", tracking_number="X"))


def test_cancel_then_cancel_again_is_already_done(sandbox):
    order = paid_order(sandbox, 1)
    adapter = adapter_for(sandbox)
    first = adapter.cancel_order(CancelPush(str(order["id"]), reason="inventory", staff_note="out of stock"))
    assert (first.external_id, first.already_done, first.details["job_done"]) == (str(order["id"]), False, True)
    cancelled = sandbox.state.get_order(SHOP, order["id"])
    assert (cancelled["cancel_reason"], cancelled["financial_status"]) == ("inventory", "paid")  # no refund asked
    assert cancelled["closed_at"] is not None
    assert adapter.fetch_order(str(order["id"])).status == "cancelled"

    again = adapter.cancel_order(CancelPush(str(order["id"]), reason="inventory"))
    assert (again.external_id, again.already_done) == (str(order["id"]), True)
    (logged,) = sandbox.state.mutations("orderCancel")
    assert logged["variables"]["staffNote"] == "out of stock" and logged["variables"]["reason"] == "INVENTORY"


def test_accept_then_drop_of_a_cancellation_is_already_done_on_retry(sandbox):
    order = paid_order(sandbox, 1)
    adapter = adapter_for(sandbox, attempts=1)
    sandbox.state.faults.drop_after_processing(operation="FeniciaOrderCancel")
    with pytest.raises(TransientError):
        adapter.cancel_order(CancelPush(str(order["id"]), reason="customer"))
    assert adapter.cancel_order(CancelPush(str(order["id"]), reason="customer")).already_done
    assert len(sandbox.state.mutations("orderCancel")) == 1


# -- webhooks ----------------------------------------------------------------------------------
def test_pushes_notify_subscribers_when_auto_webhooks_are_on(sandbox):
    adapter = adapter_for(sandbox)
    order = paid_order(sandbox, 2)
    (mug,) = line_ids(order)
    topics = ["orders/updated", "orders/fulfilled", "orders/partially_fulfilled", "orders/cancelled"]
    with WebhookRecorder() as hook:
        sandbox.state.subscribe(SHOP, hook.url, SECRET, topics)
        sandbox.state.auto_webhooks = True
        adapter.push_shipment(ship(order, (mug, 1), tracking_number="HOOK-1"))
        adapter.push_shipment(ship(order, (mug, 1), tracking_number="HOOK-2"))
        hook.wait_for(4)
        deliveries = list(hook.deliveries)
    assert [d.headers["X-Shopify-Topic"] for d in deliveries] == [
        "orders/updated",
        "orders/partially_fulfilled",
        "orders/updated",
        "orders/fulfilled",
    ]
    assert all(adapter.verify_webhook(headers=d.headers, body=d.body) for d in deliveries)
    fulfilled = adapter.parse_webhook(headers=deliveries[-1].headers, body=deliveries[-1].body).order
    assert fulfilled.fulfillment_status == "fulfilled"
    assert sorted(s.tracking_number for s in fulfilled.shipments) == ["HOOK-1", "HOOK-2"]


def test_a_cancellation_notifies_orders_cancelled(sandbox):
    order = paid_order(sandbox, 1)
    with WebhookRecorder() as hook:
        sandbox.state.subscribe(SHOP, hook.url, SECRET, ["orders/cancelled", "orders/updated"])
        sandbox.state.auto_webhooks = True
        adapter_for(sandbox).cancel_order(CancelPush(str(order["id"]), reason="fraud"))
        hook.wait_for(2)
        topics = [d.headers["X-Shopify-Topic"] for d in hook.deliveries]
    assert topics == ["orders/cancelled", "orders/updated"]


def test_without_auto_webhooks_pushes_send_nothing(sandbox):
    order = paid_order(sandbox, 1)
    with WebhookRecorder() as hook:
        sandbox.state.subscribe(SHOP, hook.url, SECRET, ["orders/updated", "orders/fulfilled"])
        adapter_for(sandbox).push_shipment(ship(order, (line_ids(order)[0], 1)))
        assert hook.deliveries == []
    assert sandbox.state.deliveries == []


# -- the sandbox's side, as any client sees it -------------------------------------------------
def gql(server, query, variables):
    response = requests.post(
        server.url + GRAPHQL,
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": TOKEN},
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()


def test_fulfillment_orders_are_derived_from_the_lines_minus_what_was_fulfilled(sandbox):
    order = paid_order(sandbox, 3, 1)
    mug, cap = line_ids(order)
    sandbox.state.fulfill(SHOP, order["id"], {int(mug): 2}, tracking_company="UPS", tracking_number="1Z1")
    payload = gql(sandbox, FULFILLMENT_STATE, {"id": f"gid://shopify/Order/{order['id']}"})
    assert payload["extensions"]["cost"]["requestedQueryCost"] == FULFILLMENT_STATE_COST
    node = payload["data"]["order"]
    assert node["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    (fo,) = node["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "IN_PROGRESS" and fo["id"].startswith("gid://shopify/FulfillmentOrder/")
    lines = {li["lineItem"]["id"]: (li["totalQuantity"], li["remainingQuantity"]) for li in fo["lineItems"]["nodes"]}
    assert lines == {f"gid://shopify/LineItem/{mug}": (3, 1), f"gid://shopify/LineItem/{cap}": (1, 1)}
    assert all(not li["id"].endswith((mug, cap)) for li in fo["lineItems"]["nodes"])  # ids of their own
    (fulfillment,) = node["fulfillments"]
    assert fulfillment["trackingInfo"] == [
        {"company": "UPS", "number": "1Z1", "url": "https://www.ups.com/track?tracknum=1Z1"}
    ]
    assert fulfillment["fulfillmentLineItems"]["nodes"] == [
        {"quantity": 2, "lineItem": {"id": f"gid://shopify/LineItem/{mug}"}}
    ]


def test_invalid_mutations_answer_user_errors_like_shopify(sandbox):
    order = paid_order(sandbox, 1)
    (fo,) = sandbox.state.fulfillment_orders(SHOP, order["id"])
    (line,) = fo["line_items"]
    fulfil = lambda quantity, item_id=line["id"]: gql(  # noqa: E731
        sandbox,
        FULFILLMENT_CREATE,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": f"gid://shopify/FulfillmentOrder/{fo['id']}",
                        "fulfillmentOrderLineItems": [
                            {"id": f"gid://shopify/FulfillmentOrderLineItem/{item_id}", "quantity": quantity}
                        ],
                    }
                ]
            }
        },
    )["data"]["fulfillmentCreate"]
    over = fulfil(2)
    assert over["fulfillment"] is None
    assert over["userErrors"][0]["message"] == "Invalid fulfillment order line item quantity requested."
    wrong_id = fulfil(1, item_id=line["line_item_id"])  # a LineItem id where a fulfilment-order line belongs
    assert "Invalid fulfillment order line item id" in wrong_id["userErrors"][0]["message"]
    assert fulfil(1)["fulfillment"]["status"] == "SUCCESS"
    closed = fulfil(1)
    assert "unfulfillable status= closed" in closed["userErrors"][0]["message"]
    assert [m["ok"] for m in sandbox.state.mutations("fulfillmentCreate")] == [False, False, True, False]

    cancel = {
        "orderId": f"gid://shopify/Order/{order['id']}",
        "reason": "OTHER",
        "restock": True,
        "refundMethod": {"originalPaymentMethodsRefund": True},
    }
    first = gql(sandbox, ORDER_CANCEL, cancel)["data"]["orderCancel"]
    assert first["job"]["done"] is True and first["orderCancelUserErrors"] == []
    assert sandbox.state.get_order(SHOP, order["id"])["financial_status"] == "refunded"  # refund asked this time
    second = gql(sandbox, ORDER_CANCEL, cancel)["data"]["orderCancel"]
    assert second["job"] is None
    assert second["orderCancelUserErrors"] == [
        {"field": ["orderId"], "message": "Order has already been cancelled.", "code": "INVALID"}
    ]
    bad_reason = gql(sandbox, ORDER_CANCEL, {**cancel, "reason": "BORED"})
    assert "data" not in bad_reason and "OrderCancelReason" in bad_reason["errors"][0]["message"]


def test_control_endpoints_show_fulfilments_and_mutations_and_take_the_new_fault(sandbox):
    order = paid_order(sandbox, 1)
    fault = requests.post(
        sandbox.url + "/_sandbox/faults",
        json={"kind": "drop_after_processing", "operation": "FeniciaFulfillmentCreate"},
        timeout=5,
    )
    assert fault.status_code == 201 and fault.json()["faults"][0]["kind"] == "drop_after_processing"
    with pytest.raises(TransientError):
        adapter_for(sandbox, attempts=1).push_shipment(ship(order, (line_ids(order)[0], 1), tracking_number="C-1"))
    shown = requests.get(f"{sandbox.url}/_sandbox/shops/{SHOP}/orders/{order['id']}/fulfillments", timeout=5).json()
    assert [f["tracking_number"] for f in shown["fulfillments"]] == ["C-1"]
    assert shown["fulfillment_orders"][0]["status"] == "CLOSED"
    mutations = requests.get(sandbox.url + "/_sandbox/mutations", timeout=5).json()["mutations"]
    assert [(m["mutation"], m["ok"], m["operation"]) for m in mutations] == [
        ("fulfillmentCreate", True, "FeniciaFulfillmentCreate")
    ]
