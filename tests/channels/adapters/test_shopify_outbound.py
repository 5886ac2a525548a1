"""The Shopify adapter's outbound actions (ship, add tracking, cancel) against Shopify-shaped
payloads, HTTP mocked with `responses`."""

import copy
import json

import pytest
import requests

from channels.adapters.base import (
    CancelPush,
    Capability,
    ChannelConnection,
    InvalidData,
    OrderNotFound,
    RateLimited,
    ShipmentPush,
    ShipmentPushLine,
    TrackingPush,
    TransientError,
)
from channels.adapters.shopify import FULFILLMENT_STATE_COST, MAX_QUERY_COST, ShopifyAdapter
from channels.http import HttpClient
from tests.conftest import load_fixture

GRAPHQL_URL = "https://test-shop.myshopify.com/admin/api/2026-10/graphql.json"
ORDER_ID = "5550001112223"
ORDER_GID = f"gid://shopify/Order/{ORDER_ID}"
FO_1, FO_2 = "gid://shopify/FulfillmentOrder/6990000000001", "gid://shopify/FulfillmentOrder/6990000000002"
FOL_900_A, FOL_901, FOL_900_B = (f"gid://shopify/FulfillmentOrderLineItem/770000000000{i}" for i in (1, 2, 3))
TRACKING = "1Z999AA10123456784"


def make_adapter(http=None, **credentials) -> ShopifyAdapter:
    creds = {"shop": "test-shop.myshopify.com", "access_token": "shpat_test_token", "api_version": "2026-10"}
    creds.update(credentials)
    return ShopifyAdapter(ChannelConnection(channel_id=1, kind="shopify", credentials=creds), http=http)


def state(**order_changes) -> dict:
    """The fulfilment-state answer for order 5550001112223: line 900 (2 units, one in each of two
    open fulfilment orders) and line 901 (1 unit), nothing fulfilled yet."""
    payload = load_fixture("shopify/outbound_fulfillment_state.json")
    payload["data"]["order"].update(order_changes)
    return payload


def fulfillment(number: int, lines: dict[str, int], tracking: str | None = None, status: str = "SUCCESS") -> dict:
    return {
        "id": f"gid://shopify/Fulfillment/{number}",
        "status": status,
        "createdAt": f"2026-11-21T1{number % 10}:00:00Z",
        "trackingInfo": [{"company": "UPS", "number": tracking, "url": None}] if tracking else [],
        "fulfillmentLineItems": {
            "pageInfo": {"hasNextPage": False},
            "nodes": [
                {"quantity": quantity, "lineItem": {"id": f"gid://shopify/LineItem/{line}"}}
                for line, quantity in lines.items()
            ],
        },
    }


def fully_fulfilled_state(*fulfillments: dict) -> dict:
    payload = state(displayFulfillmentStatus="FULFILLED", fulfillments=list(fulfillments))
    for fo in payload["data"]["order"]["fulfillmentOrders"]["nodes"]:
        fo["status"] = "CLOSED"
        for item in fo["lineItems"]["nodes"]:
            item["remainingQuantity"] = 0
    return payload


def sent(call) -> dict:
    return json.loads(call.request.body)


def operation(call) -> str:
    query = sent(call)["query"]
    return query.split("(", 1)[0].split()[-1]


def ship(*lines: tuple[str, int], **fields) -> ShipmentPush:
    return ShipmentPush(
        order_external_id=ORDER_ID,
        lines=tuple(ShipmentPushLine(line_external_id=line, quantity=quantity) for line, quantity in lines),
        **fields,
    )


def test_it_declares_the_outbound_capabilities():
    assert {Capability.SHIP, Capability.ADD_TRACKING, Capability.CANCEL} <= ShopifyAdapter.capabilities


def test_the_fulfilment_state_query_stays_under_shopifys_cost_limit():
    assert FULFILLMENT_STATE_COST < MAX_QUERY_COST


class TestPushShipment:
    def test_it_maps_our_lines_to_fulfillment_order_lines_across_fulfillment_orders(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create.json"))
        result = make_adapter().push_shipment(
            ship(("900", 2), ("901", 1), carrier="UPS", tracking_number=TRACKING, notify_customer=True)
        )
        assert (result.external_id, result.already_done) == ("4800000000101", False)
        read, create = mocked_responses.calls
        assert (operation(read), sent(read)["variables"]) == ("FeniciaFulfillmentState", {"id": ORDER_GID})
        assert operation(create) == "FeniciaFulfillmentCreate"
        assert sent(create)["variables"]["fulfillment"] == {
            "lineItemsByFulfillmentOrder": [
                {
                    "fulfillmentOrderId": FO_1,
                    "fulfillmentOrderLineItems": [{"id": FOL_900_A, "quantity": 1}, {"id": FOL_901, "quantity": 1}],
                },
                {"fulfillmentOrderId": FO_2, "fulfillmentOrderLineItems": [{"id": FOL_900_B, "quantity": 1}]},
            ],
            "notifyCustomer": True,
            "trackingInfo": {"company": "UPS", "number": TRACKING},
        }

    def test_a_partial_shipment_takes_only_what_it_needs_and_accepts_global_line_ids(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create.json"))
        make_adapter().push_shipment(ship(("gid://shopify/LineItem/900", 1)))
        fulfillment_input = sent(mocked_responses.calls[1])["variables"]["fulfillment"]
        assert fulfillment_input == {
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": FO_1, "fulfillmentOrderLineItems": [{"id": FOL_900_A, "quantity": 1}]}
            ],
            "notifyCustomer": False,
        }

    def test_no_lines_means_everything_still_to_ship(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create.json"))
        make_adapter().push_shipment(ship())
        groups = sent(mocked_responses.calls[1])["variables"]["fulfillment"]["lineItemsByFulfillmentOrder"]
        assert sum(item["quantity"] for g in groups for item in g["fulfillmentOrderLineItems"]) == 3

    def test_a_repush_with_the_same_tracking_number_is_already_done_and_sends_nothing(self, mocked_responses):
        shipped = fulfillment(4800000000101, {"900": 2, "901": 1}, TRACKING)
        mocked_responses.post(GRAPHQL_URL, json=fully_fulfilled_state(shipped))
        result = make_adapter().push_shipment(ship(("900", 2), ("901", 1), carrier="UPS", tracking_number=TRACKING))
        assert (result.external_id, result.already_done) == ("4800000000101", True)
        assert len(mocked_responses.calls) == 1

    def test_a_cancelled_fulfilment_with_the_tracking_number_does_not_count(self, mocked_responses):
        cancelled = fulfillment(4800000000099, {"900": 1}, TRACKING, status="CANCELLED")
        mocked_responses.post(GRAPHQL_URL, json=state(fulfillments=[cancelled]))
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create.json"))
        result = make_adapter().push_shipment(ship(("900", 1), tracking_number=TRACKING))
        assert (result.external_id, result.already_done) == ("4800000000101", False)
        assert operation(mocked_responses.calls[1]) == "FeniciaFulfillmentCreate"

    def test_without_tracking_lines_already_fully_fulfilled_are_already_done(self, mocked_responses):
        ours = fulfillment(4800000000101, {"900": 2})
        other = fulfillment(4800000000102, {"901": 1}, "OTHER-TRACKING")
        mocked_responses.post(GRAPHQL_URL, json=fully_fulfilled_state(other, ours))
        result = make_adapter().push_shipment(ship(("900", 2)))
        assert (result.external_id, result.already_done) == ("4800000000101", True)
        assert len(mocked_responses.calls) == 1

    def test_asking_for_more_than_remains_is_invalid_before_any_mutation(self, mocked_responses):
        payload = state(fulfillments=[fulfillment(4800000000101, {"900": 1}, "EARLIER")])
        payload["data"]["order"]["fulfillmentOrders"]["nodes"][0]["lineItems"]["nodes"][0]["remainingQuantity"] = 0
        mocked_responses.post(GRAPHQL_URL, json=payload)
        with pytest.raises(InvalidData, match="Line item 900: asked to ship 2, but only 1 remain unfulfilled"):
            make_adapter().push_shipment(ship(("900", 2), tracking_number="NEW"))
        assert len(mocked_responses.calls) == 1

    def test_units_in_a_fulfillment_order_on_hold_are_not_used_and_the_message_says_so(self, mocked_responses):
        payload = state()
        payload["data"]["order"]["fulfillmentOrders"]["nodes"][1]["status"] = "ON_HOLD"
        mocked_responses.post(GRAPHQL_URL, json=payload)
        with pytest.raises(InvalidData, match=r"only 1 remain unfulfilled at Shopify \(1 more in fulfilment orders on"):
            make_adapter().push_shipment(ship(("900", 2)))

    def test_a_line_shopify_does_not_have_is_invalid(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state())
        with pytest.raises(InvalidData, match="has no line item 999"):
            make_adapter().push_shipment(ship(("999", 1)))

    def test_an_order_cancelled_at_shopify_is_not_pushed(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state(cancelledAt="2026-11-21T10:00:00Z"))
        with pytest.raises(InvalidData, match="cancelled at the channel") as caught:
            make_adapter().push_shipment(ship(("900", 1), tracking_number=TRACKING))
        assert caught.value.details["conflict"] == "cancelled"
        assert len(mocked_responses.calls) == 1

    def test_user_errors_are_invalid_data_with_shopifys_message(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create_user_errors.json"))
        with pytest.raises(InvalidData, match="Invalid fulfillment order line item quantity requested") as caught:
            make_adapter().push_shipment(ship(("900", 1)))
        assert caught.value.details["user_errors"][0]["field"][-1] == "quantity"
        assert len(mocked_responses.calls) == 2  # a refusal is final: not retried

    def test_an_unknown_order_is_not_found(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json={"data": {"order": None}})
        with pytest.raises(OrderNotFound):
            make_adapter().push_shipment(ship(("900", 1)))

    def test_a_lost_answer_is_checked_by_rereading_not_by_sending_again(self, mocked_responses):
        created = fulfillment(4800000000101, {"900": 1}, TRACKING)
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, body=requests.ConnectionError("connection reset by peer"))
        mocked_responses.post(GRAPHQL_URL, json=state(fulfillments=[created]))
        result = make_adapter().push_shipment(ship(("900", 1), tracking_number=TRACKING))
        assert [operation(c) for c in mocked_responses.calls] == [
            "FeniciaFulfillmentState",
            "FeniciaFulfillmentCreate",
            "FeniciaFulfillmentState",
        ]
        # Created by this call's first attempt, so not "already done" before it.
        assert (result.external_id, result.already_done, result.details) == (
            "4800000000101",
            False,
            {"confirmed_after": 1},
        )

    def test_a_lost_answer_for_an_untracked_partial_shipment_is_recognised_by_its_lines(self, mocked_responses):
        earlier = fulfillment(4800000000050, {"900": 1})  # an identical shipment made before this call
        mine = fulfillment(4800000000101, {"900": 1})
        mocked_responses.post(GRAPHQL_URL, json=state(fulfillments=[earlier]))
        mocked_responses.post(GRAPHQL_URL, body=requests.ReadTimeout("read timed out"))
        mocked_responses.post(GRAPHQL_URL, json=state(fulfillments=[earlier, mine]))
        result = make_adapter().push_shipment(ship(("900", 1)))
        assert result.external_id == "4800000000101"
        assert [operation(c) for c in mocked_responses.calls].count("FeniciaFulfillmentCreate") == 1

    def test_a_throttled_mutation_is_sent_again_after_rereading(self, mocked_responses, monkeypatch):
        waits = []
        monkeypatch.setattr("channels.http._sleep", waits.append)
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/graphql_throttled.json"))
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create.json"))
        result = make_adapter().push_shipment(ship(("900", 1), tracking_number=TRACKING))
        assert result.external_id == "4800000000101" and not result.already_done
        assert [operation(c) for c in mocked_responses.calls].count("FeniciaFulfillmentCreate") == 2
        assert waits == [2.0]

    def test_with_one_attempt_a_lost_answer_surfaces_as_a_transient_error(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=state())
        mocked_responses.post(GRAPHQL_URL, status=503, body="unavailable")
        with pytest.raises(TransientError):
            make_adapter(http=HttpClient(attempts=1)).push_shipment(ship(("900", 1)))
        assert len(mocked_responses.calls) == 2

    def test_persistent_throttling_of_the_mutation_raises_rate_limited(self, mocked_responses):
        for _ in range(3):
            mocked_responses.post(GRAPHQL_URL, json=state())
            mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/graphql_throttled.json"))
        with pytest.raises(RateLimited):
            make_adapter().push_shipment(ship(("900", 1)))
        assert len(mocked_responses.calls) == 6

    def test_long_and_many_fulfillment_orders_are_paged(self, mocked_responses):
        first = state()
        connection = first["data"]["order"]["fulfillmentOrders"]
        connection["nodes"] = connection["nodes"][:1]
        connection["pageInfo"] = {"hasNextPage": True, "endCursor": "fo-1"}
        connection["nodes"][0]["lineItems"]["pageInfo"] = {"hasNextPage": True, "endCursor": "fol-2"}
        more_orders = {
            "data": {"order": {"fulfillmentOrders": copy.deepcopy(state()["data"]["order"]["fulfillmentOrders"])}}
        }
        more_orders["data"]["order"]["fulfillmentOrders"]["nodes"] = more_orders["data"]["order"]["fulfillmentOrders"][
            "nodes"
        ][1:]
        late_line = {
            "id": "gid://shopify/FulfillmentOrderLineItem/7700000000045",
            "remainingQuantity": 1,
            "totalQuantity": 1,
            "lineItem": {"id": "gid://shopify/LineItem/945"},
        }
        more_lines = {
            "data": {
                "fulfillmentOrder": {
                    "lineItems": {"pageInfo": {"hasNextPage": False, "endCursor": "fol-3"}, "nodes": [late_line]}
                }
            }
        }
        mocked_responses.post(GRAPHQL_URL, json=first)
        mocked_responses.post(GRAPHQL_URL, json=more_orders)
        mocked_responses.post(GRAPHQL_URL, json=more_lines)
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_fulfillment_create.json"))
        make_adapter().push_shipment(ship(("945", 1), ("900", 2)))
        calls = mocked_responses.calls
        assert [operation(c) for c in calls] == [
            "FeniciaFulfillmentState",
            "FeniciaMoreFulfillmentOrders",
            "FeniciaMoreFulfillmentOrderLines",
            "FeniciaFulfillmentCreate",
        ]
        assert sent(calls[1])["variables"] == {"id": ORDER_GID, "after": "fo-1"}
        assert sent(calls[2])["variables"] == {"id": FO_1, "after": "fol-2"}
        groups = sent(calls[3])["variables"]["fulfillment"]["lineItemsByFulfillmentOrder"]
        assert groups[0]["fulfillmentOrderLineItems"] == [
            {"id": "gid://shopify/FulfillmentOrderLineItem/7700000000045", "quantity": 1},
            {"id": FOL_900_A, "quantity": 1},
        ]
        assert groups[1] == {
            "fulfillmentOrderId": FO_2,
            "fulfillmentOrderLineItems": [{"id": FOL_900_B, "quantity": 1}],
        }


class TestPushTracking:
    def test_it_updates_the_fulfilments_tracking(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_tracking_update.json"))
        result = make_adapter().push_tracking(
            TrackingPush(
                order_external_id=ORDER_ID,
                shipment_external_id="4800000000101",
                carrier="FedEx",
                tracking_number="794612345678",
                notify_customer=True,
            )
        )
        assert result.external_id == "4800000000101" and not result.already_done
        assert result.details["tracking"][0]["number"] == "794612345678"
        (call,) = mocked_responses.calls
        assert operation(call) == "FeniciaFulfillmentTrackingUpdate"
        assert sent(call)["variables"] == {
            "fulfillmentId": "gid://shopify/Fulfillment/4800000000101",
            "trackingInfoInput": {"company": "FedEx", "number": "794612345678"},
            "notifyCustomer": True,
        }

    def test_user_errors_are_invalid_data(self, mocked_responses):
        mocked_responses.post(
            GRAPHQL_URL,
            json={
                "data": {
                    "fulfillmentTrackingInfoUpdate": {
                        "fulfillment": None,
                        "userErrors": [{"field": ["fulfillmentId"], "message": "Fulfillment does not exist."}],
                    }
                }
            },
        )
        with pytest.raises(InvalidData, match="Fulfillment does not exist"):
            make_adapter().push_tracking(TrackingPush(ORDER_ID, "1", tracking_number="X"))

    def test_it_needs_a_fulfilment_id(self, mocked_responses):
        with pytest.raises(InvalidData, match="no Shopify fulfilment id"):
            make_adapter().push_tracking(TrackingPush(ORDER_ID, "", tracking_number="X"))
        assert len(mocked_responses.calls) == 0


def cancel_state(cancelled_at=None, reason=None) -> dict:
    return {
        "data": {
            "order": {
                "id": ORDER_GID,
                "legacyResourceId": ORDER_ID,
                "cancelledAt": cancelled_at,
                "cancelReason": reason,
            }
        }
    }


class TestCancelOrder:
    def test_it_cancels_with_shopifys_reason_and_without_refunding(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=cancel_state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_order_cancel.json"))
        result = make_adapter().cancel_order(
            CancelPush(ORDER_ID, reason="fraud", notify_customer=True, restock=False, staff_note="chargeback risk")
        )
        assert (result.external_id, result.already_done) == (ORDER_ID, False)
        assert result.details == {"job_id": "gid://shopify/Job/2bc4cbb9-1a4e-4c7e-b0a4-3f64a3e55b0e", "job_done": False}
        read, cancel = mocked_responses.calls
        assert operation(read) == "FeniciaOrderCancelState"
        assert operation(cancel) == "FeniciaOrderCancel"
        assert sent(cancel)["variables"] == {
            "orderId": ORDER_GID,
            "reason": "FRAUD",
            "restock": False,
            "notifyCustomer": True,
            "staffNote": "chargeback risk",
            "refundMethod": {"originalPaymentMethodsRefund": False},
        }
        assert "refundMethod: $refundMethod" in sent(cancel)["query"]

    @pytest.mark.parametrize(
        ("ours", "shopifys"),
        [("customer", "CUSTOMER"), ("inventory", "INVENTORY"), ("declined", "DECLINED"), ("staff", "STAFF"),
         ("other", "OTHER"), ("changed my mind", "OTHER")],
    )  # fmt: skip
    def test_reasons_map_to_the_order_cancel_reason_enum(self, mocked_responses, ours, shopifys):
        mocked_responses.post(GRAPHQL_URL, json=cancel_state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_order_cancel.json"))
        make_adapter().cancel_order(CancelPush(ORDER_ID, reason=ours))
        assert sent(mocked_responses.calls[1])["variables"]["reason"] == shopifys

    def test_api_versions_before_2025_07_send_refund_false(self, mocked_responses):
        url = GRAPHQL_URL.replace("2026-10", "2025-04")
        mocked_responses.post(url, json=cancel_state())
        mocked_responses.post(url, json=load_fixture("shopify/outbound_order_cancel.json"))
        make_adapter(api_version="2025-04").cancel_order(CancelPush(ORDER_ID))
        variables = sent(mocked_responses.calls[1])["variables"]
        assert variables["refund"] is False and "refundMethod" not in variables

    def test_an_order_already_cancelled_at_shopify_is_already_done(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=cancel_state("2026-11-21T10:00:00Z", "CUSTOMER"))
        result = make_adapter().cancel_order(CancelPush(ORDER_ID, reason="customer"))
        assert (result.external_id, result.already_done) == (ORDER_ID, True)
        assert result.details["cancel_reason"] == "CUSTOMER"
        assert len(mocked_responses.calls) == 1

    def test_order_cancel_user_errors_are_invalid_data(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=cancel_state())
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/outbound_order_cancel_user_errors.json"))
        with pytest.raises(InvalidData, match="pending payment authorizations") as caught:
            make_adapter().cancel_order(CancelPush(ORDER_ID))
        assert caught.value.details["user_errors"][0]["code"] == "INVALID"

    def test_an_unknown_order_is_not_found(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json={"data": {"order": None}})
        with pytest.raises(OrderNotFound):
            make_adapter().cancel_order(CancelPush(ORDER_ID))

    def test_a_lost_answer_is_checked_by_rereading(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=cancel_state())
        mocked_responses.post(GRAPHQL_URL, body=requests.ConnectionError("connection reset by peer"))
        mocked_responses.post(GRAPHQL_URL, json=cancel_state("2026-11-21T10:00:00Z", "OTHER"))
        result = make_adapter().cancel_order(CancelPush(ORDER_ID))
        assert result.external_id == ORDER_ID and not result.already_done
        assert [operation(c) for c in mocked_responses.calls].count("FeniciaOrderCancel") == 1


class TestFulfillmentStatus:
    @pytest.mark.parametrize(
        ("display", "expected"),
        [
            ("UNFULFILLED", "unfulfilled"),
            ("PARTIALLY_FULFILLED", "partially_fulfilled"),
            ("FULFILLED", "fulfilled"),
            ("ON_HOLD", "unfulfilled"),
            (None, "unfulfilled"),
        ],
    )
    def test_graphql_orders_carry_it(self, display, expected):
        node = load_fixture("shopify/graphql_orders_page.json")["data"]["orders"]["nodes"][0]
        node["displayFulfillmentStatus"] = display
        assert make_adapter().normalize_graphql_order(node).fulfillment_status == expected

    @pytest.mark.parametrize(
        ("rest", "expected"),
        [
            (None, "unfulfilled"),
            ("partial", "partially_fulfilled"),
            ("fulfilled", "fulfilled"),
            ("restocked", "unfulfilled"),
        ],
    )
    def test_webhook_orders_carry_it(self, rest, expected):
        data = load_fixture("shopify/webhook_orders_create.json")
        data["fulfillment_status"] = rest
        order = (
            make_adapter()
            .parse_webhook(headers={"X-Shopify-Topic": "orders/updated"}, body=json.dumps(data).encode())
            .order
        )
        assert order.fulfillment_status == expected
