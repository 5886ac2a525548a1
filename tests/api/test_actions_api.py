"""The REST API of the actions that flow back to the channel: ship, add tracking, cancel,
re-sync shipments, labels.

The channel is replaced at our own seam (ShopifyAdapter's push methods), as in
tests/orders/test_actions.py; tasks run through the `run_tasks` fixture, the way a worker runs
them after the commit."""

from __future__ import annotations

import base64

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from channels.adapters.base import Capability, PushResult, TransientError
from channels.adapters.shopify import ShopifyAdapter
from channels.serializers import capability_codes
from orders.models import Order, OutboundOperation, Shipment, SyncEvent

from .factories import create_order, token_client

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF"
HTML = b"<html><body><h1>UPS</h1><p>1Z999AA10123456784</p></body></html>"
SHIPPED_REASON = "The order has shipped (in full or in part); it can no longer be cancelled."


@pytest.fixture
def shopify(channel_pushes):
    """A channel that accepts everything, each kind of push counted apart."""

    class Pushes:
        ship = channel_pushes(PushResult(external_id="9001"))
        tracking = channel_pushes(PushResult(external_id="9001"), method="push_tracking")
        cancel = channel_pushes(PushResult(), method="cancel_order")

    return Pushes


@pytest.fixture
def api(staff_user):
    return token_client(staff_user)


@pytest.fixture
def order(shopify_channel):
    """Two lines: 2 x TSHIRT-M-BLK and 1 x MUG-WHT."""
    return create_order(shopify_channel)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def line_ids(order: Order) -> dict[str, int]:
    return {line.sku: line.pk for line in order.lines.all()}


def ship(api, order, **body):
    return api.post(f"/api/orders/{order.pk}/ship/", {"carrier": "UPS", **body}, format="json")


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


# -- ship ------------------------------------------------------------------------------------
def test_ship_everything_answers_201_with_the_pending_shipment_then_the_channel_accepts_it(
    api, order, shopify, run_tasks
):
    lines = line_ids(order)
    with run_tasks():
        response = ship(
            api,
            order,
            tracking_number="1Z999",
            tracking_url="https://ups.example/track/1Z999",
            notify_customer=True,
        )
    assert response.status_code == 201, response.data
    data = response.data
    assert (data["source"], data["push_state"], data["carrier"], data["tracking_number"]) == (
        "fenicia",
        "pending",
        "UPS",
        "1Z999",
    )
    assert data["tracking_url"] == "https://ups.example/track/1Z999"
    assert data["notify_customer"] is True
    assert sorted((line["sku"], line["line_id"], line["quantity"]) for line in data["lines"]) == [
        ("MUG-WHT", lines["MUG-WHT"], 1),
        ("TSHIRT-M-BLK", lines["TSHIRT-M-BLK"], 2),
    ]
    assert data["label_url"] is None
    assert (data["latest_operation"]["kind"], data["latest_operation"]["state"]) == ("ship", "pending")

    (push,) = shopify.ship.calls
    assert sorted(line.quantity for line in push.lines) == [1, 2]
    assert (push.carrier, push.tracking_number, push.notify_customer) == ("UPS", "1Z999", True)

    detail = api.get(f"/api/orders/{order.pk}/").data
    assert (detail["status"], detail["fulfillment_status"], detail["requires_shipment_sync"]) == (
        "shipped",
        "fulfilled",
        False,
    )
    (shipment,) = detail["shipments"]
    assert (shipment["id"], shipment["push_state"], shipment["external_id"]) == (data["id"], "accepted", "9001")
    assert (shipment["latest_operation"]["state"], shipment["latest_operation"]["attempts"]) == ("succeeded", 1)
    assert detail["actions"]["ship"] == {"available": False, "reason": "Every line has already been shipped."}
    assert detail["actions"]["tracking"] == {"available": True, "reason": ""}
    assert detail["actions"]["cancel"] == {"available": False, "reason": SHIPPED_REASON}


def test_a_partial_shipment_ships_only_the_named_lines(api, order, shopify):
    lines = line_ids(order)
    response = ship(api, order, lines=[{"line_id": lines["TSHIRT-M-BLK"], "quantity": 1}])
    assert response.status_code == 201, response.data
    assert [(line["sku"], line["quantity"]) for line in response.data["lines"]] == [("TSHIRT-M-BLK", 1)]
    detail = api.get(f"/api/orders/{order.pk}/").data
    assert (detail["status"], detail["fulfillment_status"]) == ("accepted", "partially_fulfilled")
    assert detail["actions"]["ship"]["available"] is True

    rest = ship(
        api,
        order,
        carrier="DHL",
        lines=[{"line_id": lines["TSHIRT-M-BLK"], "quantity": 1}, {"line_id": lines["MUG-WHT"], "quantity": 1}],
    )
    assert rest.status_code == 201, rest.data
    detail = api.get(f"/api/orders/{order.pk}/").data
    assert (detail["status"], detail["fulfillment_status"]) == ("shipped", "fulfilled")
    assert [s["carrier"] for s in detail["shipments"]] == ["UPS", "DHL"]


def test_shipping_more_than_remains_is_400_on_lines(api, order, shopify):
    lines = line_ids(order)
    response = ship(api, order, lines=[{"line_id": lines["MUG-WHT"], "quantity": 5}])
    assert response.status_code == 400
    assert response.data == {"lines": ["Only 1 of MUG-WHT remain to ship; 5 requested."]}
    assert not Shipment.objects.exists() and not OutboundOperation.objects.exists()


def test_a_line_of_another_order_is_400_on_lines(api, order, shopify_channel, shopify):
    other = create_order(shopify_channel)
    response = ship(api, order, lines=[{"line_id": other.lines.first().pk, "quantity": 1}])
    assert response.status_code == 400
    assert set(response.data) == {"lines"}
    assert "not a line of this order" in response.data["lines"][0]


# -- labels ----------------------------------------------------------------------------------
def test_a_base64_pdf_label_is_stored_and_downloadable_with_authentication(api, order, shopify, media):
    response = ship(api, order, label={"content_base64": b64(PDF), "filename": "ups.pdf"})
    assert response.status_code == 201, response.data
    url = response.data["label_url"]
    assert url == f"/api/orders/{order.pk}/shipments/{response.data['id']}/label/"

    assert APIClient().get(url).status_code == 401
    download = api.get(url)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert "attachment" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == PDF
    assert api.get(url, HTTP_ACCEPT="application/pdf").status_code == 200
    assert order.events.filter(kind=SyncEvent.Kind.LABEL).count() == 1


def test_a_base64_html_label_is_converted_to_pdf(api, order, shopify, media):
    label = {
        "content_base64": f"data:text/html;base64,{b64(HTML)}",
        "filename": "label.html",
        "content_type": "text/html",
    }
    response = ship(api, order, label=label)
    assert response.status_code == 201, response.data
    download = api.get(response.data["label_url"])
    assert b"".join(download.streaming_content).startswith(b"%PDF-")
    assert download["Content-Disposition"].endswith('.pdf"')


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"content_base64": "not base64 at all!", "filename": "ups.pdf"}, "Not valid base64."),
        ({"content_base64": "", "filename": "ups.pdf"}, "This field may not be blank."),
        ({"content_base64": b64(PDF)}, "This field is required."),
    ],
)
def test_an_invalid_label_is_400_on_label(api, order, shopify, media, label, message):
    response = ship(api, order, label=label)
    assert response.status_code == 400
    assert set(response.data) == {"label"}
    assert message in str(response.data["label"])
    assert not Shipment.objects.exists()


def test_a_label_that_is_neither_pdf_nor_html_is_400_on_label(api, order, shopify, media):
    response = ship(api, order, label={"content_base64": b64(b"GIF89a\x01\x00"), "filename": "label.gif"})
    assert response.status_code == 400
    assert response.data == {"label": ["A label must be a PDF or an HTML document."]}
    assert not Shipment.objects.exists()


def test_a_shipment_without_a_label_has_none_to_download(api, order, shopify):
    shipment_id = ship(api, order).data["id"]
    assert api.get(f"/api/orders/{order.pk}/shipments/{shipment_id}/label/").status_code == 404


# -- tracking --------------------------------------------------------------------------------
def test_tracking_on_an_accepted_shipment_is_queued_and_pushed(api, order, shopify, run_tasks):
    with run_tasks():
        shipment_id = ship(api, order).data["id"]
    with run_tasks():
        response = api.post(
            f"/api/orders/{order.pk}/shipments/{shipment_id}/tracking/",
            {"carrier": "UPS", "tracking_number": "1Z777", "notify_customer": True},
            format="json",
        )
    assert response.status_code == 202, response.data
    assert (response.data["operation"]["kind"], response.data["operation"]["state"]) == ("tracking", "pending")
    assert response.data["shipment"]["tracking_number"] == "1Z777"
    assert response.data["timeline"] == f"/api/orders/{order.pk}/timeline/"
    (push,) = shopify.tracking.calls
    assert (push.shipment_external_id, push.tracking_number, push.notify_customer) == ("9001", "1Z777", True)
    shipment = api.get(f"/api/orders/{order.pk}/").data["shipments"][0]
    assert (shipment["push_state"], shipment["latest_operation"]["kind"]) == ("accepted", "tracking")
    assert shipment["latest_operation"]["state"] == "succeeded"


def test_tracking_on_a_pending_shipment_travels_with_it(api, order, shopify):
    shipment_id = ship(api, order).data["id"]
    response = api.post(
        f"/api/orders/{order.pk}/shipments/{shipment_id}/tracking/", {"tracking_number": "1Z777"}, format="json"
    )
    assert response.status_code == 202, response.data
    assert response.data["operation"] is None
    assert (response.data["shipment"]["carrier"], response.data["shipment"]["tracking_number"]) == ("UPS", "1Z777")
    assert OutboundOperation.objects.count() == 1


# -- cancel ----------------------------------------------------------------------------------
def test_cancel_answers_202_and_pushes_the_cancellation(api, order, shopify, run_tasks):
    with run_tasks():
        response = api.post(
            f"/api/orders/{order.pk}/cancel/",
            {"reason": "customer", "notify_customer": True, "restock": False, "staff_note": "asked by phone"},
            format="json",
        )
    assert response.status_code == 202, response.data
    assert response.data["order"] == order.pk
    assert (response.data["operation"]["kind"], response.data["operation"]["state"]) == ("cancel", "pending")
    (push,) = shopify.cancel.calls
    assert (push.order_external_id, push.reason, push.notify_customer, push.restock, push.staff_note) == (
        order.external_id,
        "customer",
        True,
        False,
        "asked by phone",
    )
    detail = api.get(f"/api/orders/{order.pk}/").data
    assert detail["status"] == "cancelled"
    assert detail["actions"]["cancel"] == {"available": False, "reason": "The order is already cancelled."}
    assert detail["actions"]["ship"] == {"available": False, "reason": "The order is cancelled."}


def test_cancel_after_ship_is_409_with_the_reason(api, order, shopify):
    assert ship(api, order).status_code == 201
    response = api.post(f"/api/orders/{order.pk}/cancel/", {"reason": "customer"}, format="json")
    assert response.status_code == 409
    assert response.data == {"detail": SHIPPED_REASON}
    assert Order.objects.get(pk=order.pk).status == "shipped"
    assert not OutboundOperation.objects.filter(kind="cancel").exists()


def test_shipping_a_cancelled_order_is_409(api, order, shopify):
    assert api.post(f"/api/orders/{order.pk}/cancel/", {"reason": "fraud"}, format="json").status_code == 202
    response = ship(api, order)
    assert response.status_code == 409
    assert response.data == {"detail": "A cancelled order can't be shipped."}


# -- capabilities ----------------------------------------------------------------------------
def test_an_action_the_channel_does_not_support_is_409_and_the_detail_says_why(api, order, monkeypatch):
    monkeypatch.setattr(ShopifyAdapter, "capabilities", frozenset({Capability.WEBHOOKS, Capability.POLLING}))
    response = ship(api, order)
    assert response.status_code == 409
    assert response.data == {"detail": "Shopify does not support marking orders shipped through its API."}
    cancel = api.post(f"/api/orders/{order.pk}/cancel/", {"reason": "customer"}, format="json")
    assert cancel.status_code == 409
    assert cancel.data == {"detail": "Shopify does not support cancelling orders through its API."}

    detail = api.get(f"/api/orders/{order.pk}/").data
    assert detail["capabilities"] == ["polling", "webhooks"]
    assert detail["actions"]["ship"]["available"] is False
    assert "does not support marking orders shipped" in detail["actions"]["ship"]["reason"]
    assert "does not support adding tracking" in detail["actions"]["tracking"]["reason"]
    assert not Shipment.objects.exists() and Order.objects.get(pk=order.pk).status == "accepted"


def test_tracking_the_channel_does_not_support_is_409(api, order, shopify, monkeypatch):
    shipment_id = ship(api, order).data["id"]
    monkeypatch.setattr(ShopifyAdapter, "capabilities", frozenset({Capability.SHIP}))
    response = api.post(
        f"/api/orders/{order.pk}/shipments/{shipment_id}/tracking/", {"tracking_number": "1Z7"}, format="json"
    )
    assert response.status_code == 409
    assert "does not support adding tracking" in response.data["detail"]


# -- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"carrier": ""}, "carrier"),
        ({"carrier": None}, "carrier"),
        ({"tracking_url": "not a url"}, "tracking_url"),
        ({"notify_customer": "perhaps"}, "notify_customer"),
        ({"lines": []}, "lines"),
        ({"lines": "all"}, "lines"),
        ({"lines": [{"line_id": "x", "quantity": 1}]}, "lines"),
        ({"lines": [{"line_id": 1}]}, "lines"),
        ({"lines": [{"line_id": 1, "quantity": -1}]}, "lines"),
        ({"label": "JVBERi0="}, "label"),
    ],
)
def test_ship_validation_names_the_field(api, order, shopify, body, field):
    response = ship(api, order, **body)
    assert response.status_code == 400
    assert set(response.data) == {field}
    assert not Shipment.objects.exists()


def test_ship_without_a_carrier_names_the_carrier(api, order, shopify):
    response = api.post(f"/api/orders/{order.pk}/ship/", {}, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"carrier"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tracking_number"),
        ({"tracking_number": ""}, "tracking_number"),
        ({"tracking_number": "1Z", "tracking_url": "ftp//x"}, "tracking_url"),
    ],
)
def test_tracking_validation_names_the_field(api, order, shopify, body, field):
    shipment_id = ship(api, order).data["id"]
    response = api.post(f"/api/orders/{order.pk}/shipments/{shipment_id}/tracking/", body, format="json")
    assert response.status_code == 400
    assert set(response.data) == {field}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "bored"}, "reason"),
        ({"reason": "customer", "restock": "sometimes"}, "restock"),
        ({"reason": "customer", "staff_note": "x" * 1001}, "staff_note"),
    ],
)
def test_cancel_validation_names_the_field(api, order, shopify, body, field):
    response = api.post(f"/api/orders/{order.pk}/cancel/", body, format="json")
    assert response.status_code == 400
    assert set(response.data) == {field}
    assert Order.objects.get(pk=order.pk).status == "accepted"


@pytest.mark.parametrize("body", [{"order_ids": []}, {"order_ids": "1,2"}, {"order_ids": [0]}, {"order_ids": [999999]}])
def test_bulk_shipment_sync_validation_names_the_field(api, order, body):
    response = api.post("/api/shipments/sync/", body, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"order_ids"}


# -- 404s and authentication -----------------------------------------------------------------
def test_unknown_orders_and_shipments_and_other_orders_shipments_are_404(api, order, shopify_channel, shopify, media):
    other = create_order(shopify_channel)
    theirs = ship(api, other, label={"content_base64": b64(PDF), "filename": "ups.pdf"}).data["id"]
    mine = ship(api, order).data["id"]
    tracking = {"tracking_number": "1Z1"}
    assert ship(api, Order(pk=999999)).status_code == 404
    assert api.post("/api/orders/999999/cancel/", {"reason": "customer"}, format="json").status_code == 404
    for shipment_id in (theirs, 999999):
        base = f"/api/orders/{order.pk}/shipments/{shipment_id}"
        assert api.post(f"{base}/tracking/", tracking, format="json").status_code == 404
        assert api.post(f"{base}/sync/").status_code == 404
        assert api.get(f"{base}/label/").status_code == 404
    assert api.post(f"/api/orders/999999/shipments/{mine}/sync/").status_code == 404
    assert api.get(f"/api/orders/{other.pk}/shipments/{theirs}/label/").status_code == 200


def test_the_action_endpoints_require_authentication(order):
    anonymous = APIClient()
    assert anonymous.post(f"/api/orders/{order.pk}/ship/", {"carrier": "UPS"}, format="json").status_code == 401
    assert anonymous.post(f"/api/orders/{order.pk}/cancel/", {"reason": "other"}, format="json").status_code == 401
    assert anonymous.post("/api/shipments/sync/", {}, format="json").status_code == 401
    assert anonymous.get(f"/api/orders/{order.pk}/shipments/1/label/").status_code == 401
    assert not Shipment.objects.exists() and Order.objects.get(pk=order.pk).status == "accepted"


# -- shipment sync ---------------------------------------------------------------------------
def test_a_failed_push_requires_sync_and_the_shipment_sync_endpoint_pushes_it_again(
    api, order, channel_pushes, run_tasks
):
    channel = channel_pushes(TransientError("HTTP 503 from POST /admin/api/2026-10/graphql.json", status=503))
    with run_tasks():
        shipment_id = ship(api, order, tracking_number="1Z999").data["id"]
    assert len(channel.calls) == 3
    detail = api.get(f"/api/orders/{order.pk}/").data
    assert detail["requires_shipment_sync"] is True
    (shipment,) = detail["shipments"]
    assert shipment["push_state"] == "failed"
    operation = shipment["latest_operation"]
    assert (operation["state"], operation["attempts"]) == ("failed", 3)
    assert "HTTP 503" in operation["last_error"]
    assert ids_of(api.get("/api/orders/", {"shipments": "requires_sync"})) == {order.pk}
    assert ids_of(api.get("/api/orders/", {"shipments": "pending"})) == {order.pk}

    channel = channel_pushes(PushResult(external_id="9001"))
    with run_tasks():
        response = api.post(f"/api/orders/{order.pk}/shipments/{shipment_id}/sync/")
    assert response.status_code == 202, response.data
    assert response.data["queued"] == 1
    assert response.data["shipment"]["push_state"] == "pending"
    assert len(channel.calls) == 1
    detail = api.get(f"/api/orders/{order.pk}/").data
    assert detail["requires_shipment_sync"] is False
    assert (detail["shipments"][0]["push_state"], detail["shipments"][0]["latest_operation"]["attempts"]) == (
        "accepted",
        4,
    )
    assert ids_of(api.get("/api/orders/", {"shipments": "prepared"})) == {order.pk}
    assert ids_of(api.get("/api/orders/", {"shipments": "requires_sync"})) == set()

    again = api.post(f"/api/orders/{order.pk}/shipments/{shipment_id}/sync/")
    assert (again.status_code, again.data["queued"]) == (202, 0)


def test_bulk_shipment_sync_queues_everything_pending_or_only_the_named_orders(
    api, shopify_channel, channel_pushes, run_tasks
):
    first, second, third = (create_order(shopify_channel) for _ in range(3))
    channel_pushes(TransientError("HTTP 503", status=503))
    with run_tasks():
        for order in (first, second, third):
            assert ship(api, order).status_code == 201
    assert set(Order.objects.values_list("requires_shipment_sync", flat=True)) == {True}

    channel = channel_pushes(PushResult(external_id="9001"))
    with run_tasks():
        response = api.post("/api/shipments/sync/", {"order_ids": [first.pk]}, format="json")
    assert response.status_code == 202, response.data
    assert response.data["queued"] == 1
    assert len(channel.calls) == 1
    assert ids_of(api.get("/api/orders/", {"shipments": "requires_sync"})) == {second.pk, third.pk}

    with run_tasks():
        response = api.post("/api/shipments/sync/", {}, format="json")
    assert (response.status_code, response.data["queued"]) == (202, 2)
    assert len(channel.calls) == 3
    assert ids_of(api.get("/api/orders/", {"shipments": "requires_sync"})) == set()
    assert ids_of(api.get("/api/orders/", {"shipments": "prepared"})) == {first.pk, second.pk, third.pk}


# -- the list --------------------------------------------------------------------------------
def ids_of(response) -> set[int]:
    assert response.status_code == 200, response.data
    return {row["id"] for row in response.data["results"]}


def test_the_list_shows_fulfilment_sync_need_and_capabilities_and_filters_by_shipments(
    api, shopify_channel, shopify, run_tasks
):
    untouched, pending, prepared = (create_order(shopify_channel) for _ in range(3))
    assert ship(api, pending).status_code == 201  # queued, not yet pushed
    with run_tasks():
        assert ship(api, prepared).status_code == 201
    rows = {row["id"]: row for row in api.get("/api/orders/").data["results"]}
    assert rows[untouched.pk]["fulfillment_status"] == "unfulfilled"
    assert rows[prepared.pk]["fulfillment_status"] == "fulfilled"
    assert rows[pending.pk]["requires_shipment_sync"] is False
    assert rows[pending.pk]["capabilities"] == capability_codes("shopify")
    assert {"ship", "add_tracking", "cancel"} <= set(rows[pending.pk]["capabilities"])
    assert "actions" not in rows[pending.pk]
    assert ids_of(api.get("/api/orders/", {"shipments": "pending"})) == {pending.pk}
    assert ids_of(api.get("/api/orders/", {"shipments": "prepared"})) == {prepared.pk}
    bad = api.get("/api/orders/", {"shipments": "lost"})
    assert (bad.status_code, set(bad.data)) == (400, {"shipments"})


@pytest.mark.parametrize("shipments", [1, 3])
def test_the_detail_query_count_does_not_grow_with_shipments(
    api, order, shopify, django_assert_max_num_queries, shipments
):
    tshirt, mug = line_ids(order)["TSHIRT-M-BLK"], line_ids(order)["MUG-WHT"]
    for line_id in [tshirt, tshirt, mug][:shipments]:
        assert ship(api, order, lines=[{"line_id": line_id, "quantity": 1}]).status_code == 201
    # token, order + channel, lines, shipments, their lines, their operations, shipped quantities
    with django_assert_max_num_queries(7):
        response = api.get(f"/api/orders/{order.pk}/")
    assert len(response.data["shipments"]) == shipments


def test_a_label_error_asked_for_as_pdf_still_answers_json(api, order, shopify):
    shipment_id = ship(api, order).data["id"]
    response = api.get(f"/api/orders/{order.pk}/shipments/{shipment_id}/label/", HTTP_ACCEPT="application/pdf")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "This shipment has no label."}


# -- schema ----------------------------------------------------------------------------------
def test_the_schema_is_valid_and_documents_the_action_endpoints():
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    for path in (
        "/api/orders/{order_id}/ship/",
        "/api/orders/{order_id}/cancel/",
        "/api/orders/{order_id}/shipments/{shipment_id}/tracking/",
        "/api/orders/{order_id}/shipments/{shipment_id}/sync/",
        "/api/shipments/sync/",
    ):
        assert "post" in paths[path], path
        assert {"400", "404", "409"} & set(paths[path]["post"]["responses"]), path
    ship_op = paths["/api/orders/{order_id}/ship/"]["post"]
    assert ship_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ShipInput")
    assert set(ship_op["responses"]) == {"201", "400", "404", "409"}
    label = paths["/api/orders/{order_id}/shipments/{shipment_id}/label/"]["get"]
    assert "application/pdf" in label["responses"]["200"]["content"]
    components = schema["components"]["schemas"]
    assert {"push_state", "source", "lines", "label_url", "latest_operation"} <= set(
        components["Shipment"]["properties"]
    )
    assert {"fulfillment_status", "requires_shipment_sync", "capabilities"} <= set(
        components["OrderList"]["properties"]
    )
    assert "actions" in components["OrderDetail"]["properties"]
    filters = {p["name"] for p in paths["/api/orders/"]["get"]["parameters"]}
    assert "shipments" in filters
