from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels.models import SyncRun
from channels.services import channel_create
from orders.models import SyncEvent, SyncState
from orders.services import order_mark_not_found
from tests.orders.factories import make_order, make_orders, shipment, shopify_order_node

GRAPHQL_URL = "https://test-shop.myshopify.com/admin/api/2026-10/graphql.json"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_in(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def second_channel(db):
    return channel_create(
        kind="shopify", name="Outlet", credentials={"shop": "outlet.myshopify.com", "access_token": "shpat_outlet"}
    )


def _numbers(response) -> set[str]:
    return {o.number for o in response.context["page"].object_list}


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,name,args",
    [
        ("get", "orders:list", []),
        ("get", "orders:detail", [1]),
        ("post", "orders:sync", [1]),
        ("get", "orders:timeline", [1]),
        ("post", "orders:resync", []),
    ],
)
def test_it_requires_login(client, method, name, args):
    url = reverse(name, args=args)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_it_404s_for_an_unknown_order(client_in):
    assert client_in.get(reverse("orders:detail", args=[999999])).status_code == 404
    assert client_in.post(reverse("orders:sync", args=[999999])).status_code == 404


def test_sync_rejects_get(client_in, shopify_channel):
    order = make_order(shopify_channel)
    assert client_in.get(reverse("orders:sync", args=[order.pk])).status_code == 405


def test_forms_are_csrf_protected(staff_user, shopify_channel):
    order = make_order(shopify_channel)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    assert strict.post(reverse("orders:sync", args=[order.pk])).status_code == 403
    assert strict.post(reverse("orders:resync"), {"order_ids": [order.pk]}).status_code == 403
    assert not SyncEvent.objects.filter(order=order, message="Sync requested").exists()


# -- list -----------------------------------------------------------------------------------------
def test_list_shows_orders_with_their_state(client_in, shopify_channel):
    make_order(
        shopify_channel,
        number="#2001",
        customer_name="Ana Lopez",
        total=Decimal("1234.50"),
        payment_status="partially_refunded",
    )
    response = client_in.get(reverse("orders:list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "#2001" in body and "Ana Lopez" in body and "Test Shop" in body
    assert "1,234.50" in body and "USD" in body
    assert 'class="pill pill-partially_refunded"' in body
    assert "In sync" in body
    assert 'name="order_ids"' in body and "data-select-all" in body and "Re-sync selected" in body


def test_list_filters_by_channel_status_payment_and_errors(client_in, shopify_channel, second_channel):
    make_order(shopify_channel, number="#A-paid", status="accepted", payment_status="paid")
    make_order(shopify_channel, number="#A-pending", status="pending", payment_status="pending")
    lost = make_order(shopify_channel, number="#A-lost", status="shipped", payment_status="paid")
    make_order(second_channel, number="#B-paid", status="accepted", payment_status="paid")
    order_mark_not_found(order=lost, source="manual")
    url = reverse("orders:list")

    assert _numbers(client_in.get(url, {"channel": second_channel.pk})) == {"#B-paid"}
    assert _numbers(client_in.get(url, {"status": "pending"})) == {"#A-pending"}
    assert _numbers(client_in.get(url, {"payment_status": "paid", "channel": shopify_channel.pk})) == {
        "#A-paid",
        "#A-lost",
    }
    response = client_in.get(url, {"errors_only": "on"})
    assert _numbers(response) == {"#A-lost"}
    assert "Not found at source" in response.content.decode()


def test_list_ignores_invalid_filters(client_in, shopify_channel):
    make_order(shopify_channel, number="#ok")
    response = client_in.get(reverse("orders:list"), {"status": "bogus", "channel": "nope"})
    assert response.status_code == 200


@pytest.mark.parametrize("term", ["#7777", "7777", "Zelda", "zelda@example", "RARE-SKU-1"])
def test_list_searches_number_customer_email_and_sku(client_in, shopify_channel, term):
    from channels.adapters.base import NormalizedLine

    make_order(
        shopify_channel,
        number="#7777",
        customer_name="Zelda Fitz",
        customer_email="zelda@example.com",
        lines=[NormalizedLine(external_id="l1", sku="RARE-SKU-1", title="Lamp", quantity=1, unit_price=Decimal("5"))],
    )
    make_orders(shopify_channel, 3)
    assert _numbers(client_in.get(reverse("orders:list"), {"q": term})) == {"#7777"}


def test_list_paginates_by_50_and_keeps_filters_in_links(client_in, shopify_channel):
    make_orders(shopify_channel, 55, status="pending")
    response = client_in.get(reverse("orders:list"), {"status": "pending", "q": "Customer"})
    page = response.context["page"]
    assert len(page.object_list) == 50 and page.paginator.count == 55
    body = response.content.decode()
    assert "?status=pending&amp;q=Customer&amp;page=2" in body
    second = client_in.get(reverse("orders:list"), {"status": "pending", "q": "Customer", "page": 2})
    assert len(second.context["page"].object_list) == 5


def test_list_runs_a_constant_number_of_queries(
    client_in, shopify_channel, second_channel, django_assert_max_num_queries
):
    make_orders(shopify_channel, 2)
    with CaptureQueriesContext(connection) as few:
        client_in.get(reverse("orders:list"))
    make_orders(shopify_channel, 40, shipments=[])
    make_orders(second_channel, 40)
    with CaptureQueriesContext(connection) as many:
        response = client_in.get(reverse("orders:list"))
    assert len(response.context["page"].object_list) == 50
    assert len(many) == len(few)
    with django_assert_max_num_queries(8):
        client_in.get(reverse("orders:list"), {"q": "SKU-3", "channel": shopify_channel.pk, "errors_only": "on"})
    with django_assert_max_num_queries(8):
        client_in.get(reverse("orders:list"), {"page": 2})


# -- detail ---------------------------------------------------------------------------------------
def test_detail_shows_lines_customer_addresses_shipments_and_timeline(client_in, shopify_channel):
    from channels.adapters.base import NormalizedLine

    order = make_order(
        shopify_channel,
        number="#1042",
        customer_name="Ana Lopez",
        customer_email="ana@example.com",
        customer_phone="+15125550100",
        notes="gift wrap",
        tags=["vip", "wholesale"],
        channel_status="PAID · FULFILLED",
        status="shipped",
        billing_address={"name": "Ana Billing", "address1": "2 Side St", "city": "Dallas", "country": "United States"},
        lines=[
            NormalizedLine(
                external_id="900",
                sku="TSHIRT-M-BLK",
                title="T-Shirt",
                variant="M / Black",
                quantity=2,
                unit_price=Decimal("24.95"),
            )
        ],
        shipments=[shipment()],
        raw={"id": "gid://shopify/Order/1", "name": "#1042"},
    )
    response = client_in.get(order.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    for text in (
        "#1042",
        "TSHIRT-M-BLK",
        "T-Shirt",
        "M / Black",
        "49.90",
        "59.90",
        "Ana Lopez",
        "ana@example.com",
        "+15125550100",
        "1 Main St",
        "Austin",
        "Ana Billing",
        "2 Side St",
        "gift wrap",
        "vip",
        "wholesale",
        "PAID · FULFILLED",
        "UPS",
        'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"',
        "1Z999AA10123456784",
        "Imported from a webhook",
        "<details",
        "&quot;gid://shopify/Order/1&quot;",
    ):
        assert text in body, text
    assert 'class="pill pill-shipped"' in body


def test_detail_timeline_is_newest_first_with_outcomes(client_in, shopify_channel):
    order = make_order(shopify_channel, source_updated_at=datetime(2026, 11, 1, tzinfo=UTC))
    make_order(
        shopify_channel,
        external_id=order.external_id,
        number=order.number,
        source_updated_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    make_order(
        shopify_channel,
        external_id=order.external_id,
        number=order.number,
        source_updated_at=datetime(2026, 10, 1, tzinfo=UTC),
    )
    events = client_in.get(order.get_absolute_url()).context["events"]
    assert [e.kind for e in events] == ["stale_ignored", "updated", "imported"]
    body = client_in.get(order.get_absolute_url()).content.decode()
    assert (
        body.index("Ignored an older update")
        < body.index("Updated from a webhook")
        < body.index("Imported from a webhook")
    )
    assert "tl-skipped" in body and "tl-success" in body


def test_detail_shows_not_found_at_source(client_in, shopify_channel):
    order = make_order(shopify_channel)
    order_mark_not_found(order=order, source="manual", message="The channel answered 404: gone")
    body = client_in.get(order.get_absolute_url()).content.decode()
    assert "Not found at source" in body
    assert "The channel answered 404: gone" in body
    assert "tl-failure" in body


# -- Sync -----------------------------------------------------------------------------------------
def test_sync_without_js_records_the_request_and_redirects(client_in, shopify_channel):
    order = make_order(shopify_channel)
    response = client_in.post(reverse("orders:sync", args=[order.pk]))
    assert response.status_code == 302 and response["Location"] == order.get_absolute_url()
    assert order.events.first().message == "Sync requested"
    followed = client_in.get(response["Location"])
    assert "Sync requested" in followed.content.decode()


def test_sync_with_htmx_returns_a_polling_timeline(client_in, shopify_channel):
    order = make_order(shopify_channel)
    response = client_in.post(reverse("orders:sync", args=[order.pk]), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert '<section id="timeline"' in body and 'hx-trigger="every 2s"' in body
    assert reverse("orders:timeline", args=[order.pk]) in body
    assert "Sync requested" in body
    assert 'id="order-state" hx-swap-oob="true"' in body
    assert "order-aside" not in body  # still waiting: the rest of the page is left alone
    assert "<html" not in body


def test_sync_ends_with_an_update_from_the_channel(client_in, shopify_channel, run_tasks, mocked_responses):
    node = shopify_order_node(0)
    order = make_order(
        shopify_channel,
        external_id=node["legacyResourceId"],
        number=node["name"],
        status="pending",
        payment_status="pending",
        source_updated_at=datetime(2026, 11, 20, 13, 0, tzinfo=UTC),
    )
    mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [node]}})
    with run_tasks():
        response = client_in.post(reverse("orders:sync", args=[order.pk]), **HTMX)
    assert "Sync requested" in response.content.decode()
    assert len(mocked_responses.calls) == 1

    messages = list(order.events.values_list("message", flat=True))
    assert messages[:2] == ["Updated from a manual sync", "Sync requested"]
    order.refresh_from_db()
    assert order.payment_status == "paid" and order.status == "accepted"

    poll = client_in.get(reverse("orders:timeline", args=[order.pk]), **HTMX)
    body = poll.content.decode()
    assert "Updated from a manual sync" in body
    assert "hx-trigger" not in body  # the result arrived: polling stops
    assert 'class="pill pill-paid"' in body  # and the page caught up, out of band
    assert 'id="order-aside" hx-swap-oob="true"' in body and "gift wrap" in body
    assert 'id="order-items" hx-swap-oob="true"' in body and "TSHIRT-M-BLK" in body


def test_sync_of_an_order_the_channel_lost_shows_not_found(client_in, shopify_channel, run_tasks, mocked_responses):
    order = make_order(shopify_channel, external_id="5550009999999")
    mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [None]}})
    with run_tasks():
        client_in.post(reverse("orders:sync", args=[order.pk]))
    order.refresh_from_db()
    assert order.sync_state == SyncState.NOT_FOUND
    assert "Not found at source" in client_in.get(order.get_absolute_url()).content.decode()


def test_timeline_polls_only_for_a_while_after_a_request(client_in, shopify_channel):
    order = make_order(shopify_channel)
    client_in.post(reverse("orders:sync", args=[order.pk]))
    url = reverse("orders:timeline", args=[order.pk])
    assert "hx-trigger" in client_in.get(url, **HTMX).content.decode()
    SyncEvent.objects.filter(order=order).update(created_at=datetime.now(UTC) - timedelta(minutes=5))
    assert "hx-trigger" not in client_in.get(url, **HTMX).content.decode()


# -- bulk re-sync ---------------------------------------------------------------------------------
def test_bulk_resync_starts_one_run_per_channel(client_in, shopify_channel, second_channel):
    a = make_orders(shopify_channel, 3)
    b = make_orders(second_channel, 2)
    back = reverse("orders:list") + "?status=accepted"
    response = client_in.post(reverse("orders:resync"), {"order_ids": [o.pk for o in a + b], "next": back})
    assert response.status_code == 302 and response["Location"] == back
    runs = SyncRun.objects.filter(kind=SyncRun.Kind.RESYNC)
    assert {(r.channel_id, r.total) for r in runs} == {(shopify_channel.pk, 3), (second_channel.pk, 2)}
    assert all(r.requested_by_id for r in runs)
    assert "Re-sync started for 5 orders in 2 runs" in client_in.get(back).content.decode()


def test_bulk_resync_refuses_an_outside_redirect(client_in, shopify_channel):
    order = make_order(shopify_channel)
    response = client_in.post(reverse("orders:resync"), {"order_ids": [order.pk], "next": "https://evil.example/"})
    assert response["Location"] == reverse("orders:list")


def test_bulk_resync_with_htmx_shows_progress_that_polls(client_in, shopify_channel):
    orders = make_orders(shopify_channel, 2)
    response = client_in.post(reverse("orders:resync"), {"order_ids": [o.pk for o in orders]}, **HTMX)
    body = response.content.decode()
    run = SyncRun.objects.get()
    assert '<div id="resync-runs"' in body and 'hx-trigger="every 2s"' in body
    assert f"run={run.pk}" in body and "Queued" in body
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED, processed=2)
    progress = client_in.get(reverse("orders:resync-progress"), {"run": run.pk}, **HTMX).content.decode()
    assert "Succeeded" in progress and "hx-trigger" not in progress


def test_bulk_resync_runs_to_completion(client_in, shopify_channel, run_tasks, mocked_responses):
    node = shopify_order_node(0)
    order = make_order(
        shopify_channel,
        external_id=node["legacyResourceId"],
        source_updated_at=datetime(2026, 11, 20, 13, 0, tzinfo=UTC),
    )
    mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [node]}})
    with run_tasks():
        client_in.post(reverse("orders:resync"), {"order_ids": [order.pk]})
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.SUCCEEDED and run.updated_count == 1
    assert order.events.first().message == "Updated from a bulk re-sync"


def test_bulk_resync_without_a_selection_says_so(client_in):
    response = client_in.post(reverse("orders:resync"), {}, follow=True)
    assert "Select at least one order." in response.content.decode()
    htmx = client_in.post(reverse("orders:resync"), {"order_ids": ["x"]}, **HTMX).content.decode()
    assert "Invalid selection." in htmx
    assert not SyncRun.objects.exists()
