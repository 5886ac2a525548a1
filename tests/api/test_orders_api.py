from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from channels.models import SyncRun
from channels.services import channel_create
from orders.models import Order, SyncEvent, SyncState

from .factories import create_order, create_orders, shipment, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user):
    return token_client(staff_user)


@pytest.fixture
def other_channel(db):
    return channel_create(
        kind="shopify",
        name="Other Shop",
        webhook_secret="shpss_other",
        credentials={"shop": "other-shop.myshopify.com", "access_token": "shpat_other"},
    )


def ids(response) -> set[int]:
    assert response.status_code == 200, response.data
    return {row["id"] for row in response.data["results"]}


# -- list ------------------------------------------------------------------------------------
def test_list_requires_authentication():
    assert APIClient().get("/api/orders/").status_code == 401


def test_list_shows_orders_newest_first_with_channel_name(api, shopify_channel):
    older, newer = create_orders(shopify_channel, 2)
    response = api.get("/api/orders/")
    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [newer.pk, older.pk]
    row = response.data["results"][0]
    assert row["channel"] == shopify_channel.pk
    assert row["channel_name"] == "Test Shop"
    assert row["total"] == "59.90"
    assert row["status"] == "accepted"
    assert "lines" not in row


def test_filter_by_channel(api, shopify_channel, other_channel):
    mine = create_order(shopify_channel)
    theirs = create_order(other_channel)
    assert ids(api.get("/api/orders/", {"channel": shopify_channel.pk})) == {mine.pk}
    assert ids(api.get("/api/orders/", {"channel": other_channel.pk})) == {theirs.pk}


def test_filter_by_status(api, shopify_channel):
    accepted = create_order(shopify_channel, status="accepted")
    cancelled = create_order(shopify_channel, status="cancelled")
    assert ids(api.get("/api/orders/", {"status": "cancelled"})) == {cancelled.pk}
    assert ids(api.get("/api/orders/", {"status": "accepted"})) == {accepted.pk}


def test_filter_by_payment_status(api, shopify_channel):
    paid = create_order(shopify_channel, payment_status="paid")
    refunded = create_order(shopify_channel, payment_status="refunded")
    assert ids(api.get("/api/orders/", {"payment_status": "refunded"})) == {refunded.pk}
    assert ids(api.get("/api/orders/", {"payment_status": "paid"})) == {paid.pk}


def test_filter_by_updated_since(api, shopify_channel):
    old, recent = create_orders(shopify_channel, 2)
    long_ago = timezone.now() - timedelta(days=3)
    Order.objects.filter(pk=old.pk).update(updated_at=long_ago)
    since = (long_ago + timedelta(days=1)).isoformat()
    assert ids(api.get("/api/orders/", {"updated_since": since})) == {recent.pk}
    assert ids(api.get("/api/orders/", {"updated_since": (long_ago - timedelta(hours=1)).isoformat()})) == {
        old.pk,
        recent.pk,
    }


def test_search_by_number_customer_and_sku(api, shopify_channel):
    ana = create_order(shopify_channel, number="#7001", customer_name="Ana Lopez", customer_email="ana@example.com")
    bob = create_order(shopify_channel, number="#7002", customer_name="Bob Stone", customer_email="bob@example.com")
    assert ids(api.get("/api/orders/", {"q": "7002"})) == {bob.pk}
    assert ids(api.get("/api/orders/", {"q": "ana lopez"})) == {ana.pk}
    assert ids(api.get("/api/orders/", {"q": "bob@example"})) == {bob.pk}
    assert ids(api.get("/api/orders/", {"q": "MUG-WHT"})) == {ana.pk, bob.pk}
    assert ids(api.get("/api/orders/", {"q": "nothing-like-this"})) == set()


def test_filter_by_sync_errors(api, shopify_channel):
    fine, broken = create_orders(shopify_channel, 2)
    Order.objects.filter(pk=broken.pk).update(sync_state=SyncState.ERROR, sync_error="boom")
    assert ids(api.get("/api/orders/", {"errors": "true"})) == {broken.pk}
    assert ids(api.get("/api/orders/")) == {fine.pk, broken.pk}


def test_filters_combine(api, shopify_channel, other_channel):
    match = create_order(shopify_channel, status="cancelled", payment_status="refunded")
    create_order(shopify_channel, status="cancelled", payment_status="paid")
    create_order(other_channel, status="cancelled", payment_status="refunded")
    query = {"channel": shopify_channel.pk, "status": "cancelled", "payment_status": "refunded"}
    assert ids(api.get("/api/orders/", query)) == {match.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"payment_status": "maybe"}, "payment_status"),
        ({"updated_since": "last tuesday"}, "updated_since"),
        ({"channel": "999999"}, "channel"),
        ({"channel": "shop"}, "channel"),
    ],
)
def test_invalid_filters_are_400_naming_the_field(api, shopify_channel, query, field):
    response = api.get("/api/orders/", query)
    assert response.status_code == 400
    assert set(response.data) == {field}


def test_list_is_paginated_by_page_number(api, shopify_channel):
    create_orders(shopify_channel, 7)
    first = api.get("/api/orders/", {"page_size": 3})
    assert first.data["count"] == 7
    assert len(first.data["results"]) == 3
    assert first.data["previous"] is None
    assert "page=2" in first.data["next"]
    last = api.get("/api/orders/", {"page_size": 3, "page": 3})
    assert len(last.data["results"]) == 1
    assert last.data["next"] is None
    seen = set()
    for page in (1, 2, 3):
        seen |= ids(api.get("/api/orders/", {"page_size": 3, "page": page}))
    assert len(seen) == 7
    assert api.get("/api/orders/", {"page": 99}).status_code == 404


def test_default_page_size_comes_from_settings(api, shopify_channel, settings):
    create_orders(shopify_channel, 3)
    response = api.get("/api/orders/")
    assert len(response.data["results"]) == 3
    assert response.data["next"] is None


@pytest.mark.parametrize("count", [5, 50])
def test_list_query_count_does_not_grow_with_page_size(api, shopify_channel, django_assert_max_num_queries, count):
    orders = create_orders(shopify_channel, count)
    for order in orders[:3]:
        create_order(
            shopify_channel,
            external_id=order.external_id,
            shipments=[shipment()],
            source_updated_at=order.source_updated_at + timedelta(hours=1),
        )
    # token lookup, page count, page rows (channel joined)
    with django_assert_max_num_queries(3):
        response = api.get("/api/orders/", {"page_size": count})
    assert len(response.data["results"]) == count


# -- detail ----------------------------------------------------------------------------------
def test_detail_has_lines_addresses_shipments_customer_and_totals(api, shopify_channel):
    order = create_order(
        shopify_channel,
        shipments=[shipment(carrier="UPS", tracking_number="1Z42")],
        tax_total=Decimal("4.10"),
        discount_total=Decimal("1.00"),
    )
    response = api.get(f"/api/orders/{order.pk}/")
    assert response.status_code == 200
    data = response.data
    assert data["number"] == order.number
    assert data["channel_name"] == "Test Shop"
    assert (data["subtotal"], data["shipping_total"], data["tax_total"], data["discount_total"], data["total"]) == (
        "49.90",
        "10.00",
        "4.10",
        "1.00",
        "59.90",
    )
    assert data["customer"] == {"name": "Ana Lopez", "email": order.customer_email, "phone": "+15125550100"}
    assert data["shipping_address"]["city"] == "Austin"
    assert data["billing_address"]["address1"] == "1 Main St"
    assert [(line["sku"], line["quantity"], line["unit_price"], line["line_total"]) for line in data["lines"]] == [
        ("TSHIRT-M-BLK", 2, "24.95", "49.90"),
        ("MUG-WHT", 1, "0.00", "0.00"),
    ]
    assert [(s["carrier"], s["tracking_number"]) for s in data["shipments"]] == [("UPS", "1Z42")]
    assert data["tags"] == ["vip"]
    assert "raw" not in data


def test_detail_includes_the_raw_payload_on_request(api, shopify_channel):
    order = create_order(shopify_channel)
    response = api.get(f"/api/orders/{order.pk}/", {"include": "raw"})
    assert response.data["raw"]["note"] == "raw payload"
    bad = api.get(f"/api/orders/{order.pk}/", {"include": "everything"})
    assert bad.status_code == 400
    assert set(bad.data) == {"include"}


def test_unknown_order_is_404(api):
    assert api.get("/api/orders/999999/").status_code == 404
    assert api.post("/api/orders/999999/sync/").status_code == 404
    assert api.get("/api/orders/999999/timeline/").status_code == 404


# -- sync, timeline, bulk re-sync --------------------------------------------------------------
def test_sync_answers_202_and_the_timeline_grows(api, shopify_channel, fake_shopify, run_tasks):
    order = create_order(shopify_channel, external_id="5550001112223", status="pending")
    before = api.get(f"/api/orders/{order.pk}/timeline/")
    assert [e["kind"] for e in before.data["results"]] == ["imported"]

    with run_tasks():
        response = api.post(f"/api/orders/{order.pk}/sync/")
    assert response.status_code == 202
    assert response.data["order"] == order.pk
    assert response.data["timeline"] == f"/api/orders/{order.pk}/timeline/"

    after = api.get(f"/api/orders/{order.pk}/timeline/").data["results"]
    assert [(e["kind"], e["source"]) for e in after] == [("updated", "api"), ("synced", "api"), ("imported", "poll")]
    assert after[0]["message"] == "Updated from the API"
    assert after[0]["outcome"] == "success"
    assert after[0]["details"]["status"] == "accepted"
    assert after[0]["created_at"] >= after[1]["created_at"]
    assert fake_shopify.operations == ["get"]
    assert api.get(f"/api/orders/{order.pk}/").data["status"] == "accepted"


def test_sync_of_an_order_the_channel_lost_shows_on_the_timeline(api, shopify_channel, fake_shopify, run_tasks):
    order = create_order(shopify_channel, external_id="404404404")
    with run_tasks():
        assert api.post(f"/api/orders/{order.pk}/sync/").status_code == 202
    latest = api.get(f"/api/orders/{order.pk}/timeline/").data["results"][0]
    assert (latest["kind"], latest["outcome"]) == ("not_found", "failure")
    assert api.get(f"/api/orders/{order.pk}/").data["sync_state"] == "not_found"


def test_timeline_is_paginated_newest_first(api, shopify_channel):
    order = create_order(shopify_channel)
    for n in range(4):
        SyncEvent.objects.create(
            order=order,
            channel=shopify_channel,
            kind=SyncEvent.Kind.SYNCED,
            outcome=SyncEvent.Outcome.INFO,
            source="manual",
            message=f"event {n}",
        )
    response = api.get(f"/api/orders/{order.pk}/timeline/", {"page_size": 2})
    assert response.data["count"] == 5
    assert [e["message"] for e in response.data["results"]] == ["event 3", "event 2"]


def test_bulk_resync_starts_one_run_per_channel(api, shopify_channel, other_channel, fake_shopify, run_tasks):
    first = create_order(shopify_channel, external_id="5550001112223", status="pending")
    second = create_order(shopify_channel, external_id="5550001112224")
    elsewhere = create_order(other_channel)
    with run_tasks():
        response = api.post("/api/orders/resync/", {"ids": [first.pk, second.pk]}, format="json")
    assert response.status_code == 202, response.data
    [run] = response.data["runs"]
    assert (run["channel"], run["kind"], run["total"], run["status"]) == (shopify_channel.pk, "resync", 2, "queued")

    done = api.get(f"/api/runs/{run['id']}/").data
    assert (done["status"], done["processed"], done["updated_count"]) == ("succeeded", 2, 2)
    assert api.get(f"/api/orders/{first.pk}/").data["status"] == "accepted"
    kinds = [e["kind"] for e in api.get(f"/api/orders/{first.pk}/timeline/").data["results"]]
    assert kinds[0] == "updated"
    assert SyncRun.objects.filter(channel=other_channel).count() == 0
    assert elsewhere.events.count() == 1


def test_bulk_resync_splits_by_channel(api, shopify_channel, other_channel):
    mine, theirs = create_order(shopify_channel), create_order(other_channel)
    response = api.post("/api/orders/resync/", {"ids": [mine.pk, theirs.pk]}, format="json")
    assert response.status_code == 202
    assert sorted(r["channel"] for r in response.data["runs"]) == sorted([shopify_channel.pk, other_channel.pk])


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": "1,2"}, {"ids": [0]}, {"ids": [999999]}])
def test_bulk_resync_validation_names_the_field(api, shopify_channel, body):
    response = api.post("/api/orders/resync/", body, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"ids"}
    assert not SyncRun.objects.exists()


# -- schema ----------------------------------------------------------------------------------
def test_schema_is_valid_openapi_and_documents_the_endpoints():
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/api/orders/",
        "/api/orders/{order_id}/",
        "/api/orders/{order_id}/sync/",
        "/api/orders/{order_id}/timeline/",
        "/api/orders/resync/",
        "/api/channels/",
        "/api/channels/{channel_id}/",
        "/api/channels/{channel_id}/sync/",
        "/api/channels/{channel_id}/runs/",
        "/api/runs/{run_id}/",
    ):
        assert path in schema["paths"], path
    create = schema["paths"]["/api/channels/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ChannelCreateInput")
    order = schema["components"]["schemas"]["OrderDetail"]["properties"]
    assert {"lines", "shipments", "shipping_address", "customer", "total"} <= set(order)
    assert "credentials" not in schema["components"]["schemas"]["Channel"]["properties"]
