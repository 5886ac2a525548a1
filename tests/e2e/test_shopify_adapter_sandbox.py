"""The real ShopifyAdapter against the sandbox marketplace over real sockets: everything the
sync layer relies on, including how failures surface as our error set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels.adapters.base import (
    AuthExpired,
    ChannelConnection,
    InvalidData,
    OrderNotFound,
    RateLimited,
    TransientError,
)
from channels.adapters.shopify import ShopifyAdapter
from channels.http import HttpClient
from channels.sandbox import SandboxServer, WebhookRecorder

pytestmark = pytest.mark.e2e

SHOP = "e2e-shop.myshopify.com"
TOKEN = "shpat_e2e_token"
SECRET = "shpss_e2e_webhook_secret"
REFRESH = {"client_id": "e2e-client", "client_secret": "e2e-client-secret", "refresh_token": "shprt_e2e_1"}


@pytest.fixture
def sandbox():
    with SandboxServer(seed=20261120) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret=SECRET, **REFRESH)
        yield server


def adapter_for(server, **credentials):
    return ShopifyAdapter(
        ChannelConnection(
            channel_id=1,
            kind="shopify",
            credentials={"shop": SHOP, "access_token": TOKEN, **credentials},
            api_base_url=server.url,
            webhook_secret=SECRET,
        )
    )


def read_window(adapter, since, until=None):
    orders, cursor, pages = [], None, 0
    while True:
        page = adapter.list_orders(updated_since=since, updated_until=until, cursor=cursor, limit=250)
        orders += page.orders
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            return orders, pages


def long_ago():
    return datetime.now(UTC) - timedelta(days=30)


def operations(server):
    return [r["operation"] for r in server.state.requests]


def test_list_orders_reads_250_orders_across_pages_without_gaps_or_repeats(sandbox):
    created = sandbox.state.create_orders(SHOP, 250, spread_days=10)
    adapter = adapter_for(sandbox)
    orders, pages = read_window(adapter, long_ago(), datetime.now(UTC) + timedelta(minutes=1))
    ids = [o.external_id for o in orders]
    assert len(ids) == len(set(ids)) == 250
    assert set(ids) == {str(o["id"]) for o in created}
    assert pages == 25  # the adapter's cost-derived page size of 10
    stamps = [o.source_updated_at for o in orders]
    assert stamps == sorted(stamps)
    assert not any(r["status"] != 200 for r in sandbox.state.requests)


def test_count_orders_counts_the_same_window(sandbox):
    now = datetime.now(UTC).replace(microsecond=0)
    for minutes in (5, 10, 15, 20, 25):
        sandbox.state.create_orders(SHOP, 3, updated_at=now - timedelta(minutes=minutes))
    adapter = adapter_for(sandbox)
    since, until = now - timedelta(minutes=20), now - timedelta(minutes=10)
    assert adapter.count_orders(updated_since=since, updated_until=until) == 9
    assert len(read_window(adapter, since, until)[0]) == 9
    assert adapter.count_orders(updated_since=long_ago(), updated_until=None) == 15


def test_fetch_orders_returns_the_known_ones_and_omits_the_rest(sandbox):
    created = sandbox.state.create_orders(SHOP, 12)
    wanted = [str(o["id"]) for o in created] + ["5550000000001"]
    found = adapter_for(sandbox).fetch_orders(wanted)
    assert set(found) == {str(o["id"]) for o in created}
    assert found[str(created[3]["id"])].number == created[3]["name"]
    assert operations(sandbox) == ["FeniciaGetOrders", "FeniciaGetOrders"]  # in chunks of 10


def test_fetch_order_of_a_deleted_order_raises_order_not_found(sandbox):
    (order,) = sandbox.state.create_orders(SHOP, 1)
    adapter = adapter_for(sandbox)
    assert adapter.fetch_order(str(order["id"])).external_id == str(order["id"])
    sandbox.state.delete_order(SHOP, order["id"])
    with pytest.raises(OrderNotFound):
        adapter.fetch_order(str(order["id"]))


def test_a_wrong_or_revoked_token_raises_auth_expired_without_retrying(sandbox):
    with pytest.raises(AuthExpired):
        adapter_for(sandbox, access_token="shpat_wrong").count_orders(updated_since=long_ago(), updated_until=None)
    sandbox.state.faults.inject(status=401)
    with pytest.raises(AuthExpired):
        adapter_for(sandbox).count_orders(updated_since=long_ago(), updated_until=None)
    assert len(sandbox.state.requests) == 2


def test_two_503s_then_success_is_retried_to_success(sandbox):
    sandbox.state.create_orders(SHOP, 4)
    sandbox.state.faults.inject(status=503, count=2)
    adapter = adapter_for(sandbox)
    assert adapter.count_orders(updated_since=long_ago(), updated_until=None) == 4
    assert [r["status"] for r in sandbox.state.requests] == [503, 503, 200]
    assert [e.get("status") for e in adapter.http.log] == [503, 503, 200]


def test_three_503s_give_up_with_a_transient_error(sandbox):
    sandbox.state.faults.inject(status=503, count=3)
    with pytest.raises(TransientError):
        adapter_for(sandbox).count_orders(updated_since=long_ago(), updated_until=None)


def test_a_429_waits_for_retry_after(sandbox):
    sandbox.state.faults.inject(status=429, retry_after=2.0)
    adapter = adapter_for(sandbox)
    assert adapter.count_orders(updated_since=long_ago(), updated_until=None) == 0
    assert adapter.http.log[0]["wait_s"] == 2.0


def test_dropped_and_timed_out_connections_are_retried(sandbox):
    sandbox.state.faults.drop()
    sandbox.state.faults.timeout(seconds=1.0)
    adapter = ShopifyAdapter(
        ChannelConnection(
            channel_id=1, kind="shopify", credentials={"shop": SHOP, "access_token": TOKEN}, api_base_url=sandbox.url
        ),
        http=HttpClient(timeout=(1.0, 0.2)),
    )
    assert adapter.count_orders(updated_since=long_ago(), updated_until=None) == 0
    assert [e.get("error", "ok").split(":")[0] for e in adapter.http.log] == ["TransientError", "TransientError", "ok"]


def test_a_throttled_query_is_retried(sandbox):
    sandbox.state.create_orders(SHOP, 3)
    sandbox.state.faults.throttle()
    adapter = adapter_for(sandbox)
    orders, _ = read_window(adapter, long_ago())
    assert len(orders) == 3
    assert "RateLimited" in adapter.http.log[0]["error"]


def test_an_empty_bucket_raises_rate_limited_with_the_wait_shopify_implies(sandbox):
    sandbox.state.create_orders(SHOP, 3)
    sandbox.state.set_throttle(SHOP, maximum=1000, restore_rate=50, available=100)
    adapter = adapter_for(sandbox)
    with pytest.raises(RateLimited) as caught:
        read_window(adapter, long_ago())
    assert caught.value.retry_after == pytest.approx((962 - 100) / 50, abs=1)
    assert len(sandbox.state.requests) == 3
    sandbox.state.set_throttle(SHOP, available=1000)
    assert len(read_window(adapter, long_ago())[0]) == 3


def test_an_order_with_45_lines_comes_back_with_45_lines(sandbox):
    (order,) = sandbox.state.create_orders(SHOP, 1, lines=45)
    sandbox.state.create_orders(SHOP, 2)
    adapter = adapter_for(sandbox)
    fetched = adapter.fetch_order(str(order["id"]))
    assert len(fetched.lines) == 45
    assert [line.external_id for line in fetched.lines] == [str(li["id"]) for li in order["line_items"]]
    listed, _ = read_window(adapter, long_ago())
    assert [len(o.lines) for o in listed if o.external_id == str(order["id"])] == [45]
    assert operations(sandbox).count("FeniciaMoreLineItems") == 2  # one per read of the order


def test_refresh_credentials_rotates_the_tokens(sandbox):
    adapter = adapter_for(sandbox, **REFRESH)
    refreshed = adapter.refresh_credentials()
    creds = refreshed.credentials
    assert creds["access_token"] != TOKEN and creds["refresh_token"] != REFRESH["refresh_token"]
    assert datetime.fromisoformat(creds["expires_at"]) > datetime.now(UTC) + timedelta(minutes=59)
    assert adapter_for(sandbox, **creds).count_orders(updated_since=long_ago(), updated_until=None) == 0

    stale = adapter_for(sandbox, **REFRESH)  # someone still holding the used refresh token
    with pytest.raises(InvalidData, match="invalid_grant"):
        stale.refresh_credentials()
    assert adapter_for(sandbox, **creds).refresh_credentials() is not None  # the rotated one works once


def test_a_webhook_verifies_and_parses_to_the_same_order_as_the_api(sandbox):
    adapter = adapter_for(sandbox)
    with WebhookRecorder() as hook:
        sandbox.state.subscribe(SHOP, hook.url, SECRET)
        (order,) = sandbox.state.create_orders(SHOP, 1, lines=3, tags=["vip"], financial_status="paid", notify=True)
        sandbox.state.update_order(
            SHOP, order["id"], add_fulfillment={"tracking_company": "UPS"}, shipment_status="in_transit", notify=True
        )
        created, updated = hook.wait_for(2)
    assert all(adapter.verify_webhook(headers=d.headers, body=d.body) for d in (created, updated))
    assert not adapter.verify_webhook(headers=updated.headers, body=updated.body + b" ")
    assert adapter.webhook_topic(created.headers) == "orders/create"

    from_webhook = adapter.parse_webhook(headers=updated.headers, body=updated.body).order
    from_api = adapter.fetch_order(str(order["id"]))
    fields = (
        "external_id",
        "number",
        "status",
        "payment_status",
        "channel_status",
        "currency",
        "total",
        "subtotal",
        "shipping_total",
        "tax_total",
        "discount_total",
        "customer_name",
        "customer_email",
        "customer_phone",
        "shipping_address",
        "billing_address",
        "notes",
        "tags",
        "placed_at",
        "source_updated_at",
        "lines",
    )
    for name in fields:
        assert getattr(from_webhook, name) == getattr(from_api, name), name
    assert from_api.status == "shipped"
    shipment = lambda o: [(s.carrier, s.tracking_number, s.tracking_url, s.status) for s in o.shipments]  # noqa: E731
    assert shipment(from_webhook) == shipment(from_api)


def test_duplicate_and_out_of_order_webhooks_carry_what_fenicia_dedupes_on(sandbox):
    adapter = adapter_for(sandbox)
    (order,) = sandbox.state.create_orders(SHOP, 1, financial_status="pending")
    with WebhookRecorder() as hook:
        sandbox.state.subscribe(SHOP, hook.url, SECRET)
        sandbox.send_webhook(SHOP, "orders/updated", order["id"], duplicate=True)
        sandbox.send_out_of_order(SHOP, order["id"], financial_status="paid")
        first, again, newer, older = hook.wait_for(4)
    delivery_id = lambda d: adapter.webhook_delivery_id(d.headers, d.body)  # noqa: E731
    assert delivery_id(first) == delivery_id(again)
    assert len({delivery_id(first), delivery_id(newer), delivery_id(older)}) == 3
    parsed = [adapter.parse_webhook(headers=d.headers, body=d.body).order for d in (newer, older)]
    assert parsed[0].payment_status == "paid" and parsed[1].payment_status == "pending"
    assert parsed[1].source_updated_at < parsed[0].source_updated_at
