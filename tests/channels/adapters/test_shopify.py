"""The Shopify adapter against Shopify-shaped payloads (HTTP mocked with `responses`)."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import responses

from channels.adapters.base import (
    AuthExpired,
    ChannelConnection,
    InvalidData,
    InvalidPayload,
    OrderNotFound,
    RateLimited,
    TransientError,
)
from channels.adapters.shopify import COST_PER_ORDER, MAX_QUERY_COST, ORDERS_PER_PAGE, ShopifyAdapter
from tests.conftest import fixture_bytes, load_fixture

GRAPHQL_URL = "https://test-shop.myshopify.com/admin/api/2026-10/graphql.json"
SECRET = "shpss_webhook_secret"


def make_adapter(**credentials) -> ShopifyAdapter:
    creds = {"shop": "test-shop.myshopify.com", "access_token": "shpat_test_token", "api_version": "2026-10"}
    creds.update(credentials)
    return ShopifyAdapter(ChannelConnection(channel_id=1, kind="shopify", credentials=creds, webhook_secret=SECRET))


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def page_node(index: int) -> dict:
    return load_fixture("shopify/graphql_orders_page.json")["data"]["orders"]["nodes"][index]


class TestListingOrders:
    def test_it_normalises_a_graphql_page(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/graphql_orders_page.json"))
        page = make_adapter().list_orders(
            updated_since=datetime(2026, 11, 20, tzinfo=UTC), updated_until=None, cursor=None, limit=100
        )
        assert page.next_cursor.startswith("eyJ")
        first, second = page.orders
        assert first.external_id == "5550001112223"
        assert first.number == "#1042"
        assert (first.status, first.payment_status) == ("accepted", "paid")
        assert first.total == Decimal("59.9") and first.shipping_total == Decimal("10.0")
        assert first.customer_name == "Ana Lopez" and first.customer_email == "ana@example.com"
        assert first.shipping_address["city"] == "Austin" and first.shipping_address["country_code"] == "US"
        assert first.tags == ["vip", "wholesale"] and first.notes == "gift wrap"
        assert first.lines[0].sku == "TSHIRT-M-BLK" and first.lines[0].quantity == 2
        assert first.lines[0].unit_price == Decimal("24.95") and first.lines[0].variant == "M / Black"
        assert first.source_updated_at == datetime(2026, 11, 20, 13, 20, tzinfo=UTC)
        # Fulfilled and every live fulfilment delivered: delivered; refunds show in payment status.
        assert (second.status, second.payment_status) == ("delivered", "partially_refunded")
        assert second.shipments[0].tracking_number == "1Z999AA10123456784"
        assert second.shipments[0].carrier == "UPS"
        assert second.billing_address == {}

    def test_it_asks_for_updated_orders_oldest_change_first_including_closed_and_cancelled(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/graphql_orders_page.json"))
        make_adapter().list_orders(
            updated_since=datetime(2026, 11, 20, 10, tzinfo=UTC),
            updated_until=datetime(2026, 11, 20, 12, tzinfo=UTC),
            cursor="abc",
            limit=500,
        )
        request = mocked_responses.calls[0].request
        sent = json.loads(request.body)
        assert request.headers["X-Shopify-Access-Token"] == "shpat_test_token"
        assert "sortKey: UPDATED_AT" in sent["query"]
        assert sent["variables"]["query"] == (
            "updated_at:>='2026-11-20T10:00:00Z' AND updated_at:<='2026-11-20T12:00:00Z'"
        )
        assert "status:" not in sent["variables"]["query"]
        assert sent["variables"]["after"] == "abc"
        assert sent["variables"]["first"] == ORDERS_PER_PAGE

    def test_page_size_keeps_the_requested_query_cost_under_shopifys_limit(self):
        assert 2 + ORDERS_PER_PAGE * COST_PER_ORDER <= MAX_QUERY_COST
        assert ORDERS_PER_PAGE >= 10

    def test_it_fetches_the_rest_of_the_lines_of_a_long_order(self, mocked_responses):
        node = page_node(0)
        node["lineItems"]["pageInfo"] = {"hasNextPage": True, "endCursor": "c1"}
        more = {
            "data": {
                "order": {
                    "lineItems": {
                        "pageInfo": {"hasNextPage": False, "endCursor": "c2"},
                        "nodes": [
                            {
                                "id": "gid://shopify/LineItem/950",
                                "sku": "MUG-WHT",
                                "title": "Mug",
                                "variantTitle": None,
                                "quantity": 1,
                                "currentQuantity": 1,
                                "originalUnitPriceSet": {"shopMoney": {"amount": "9.5", "currencyCode": "USD"}},
                            }
                        ],
                    }
                }
            }
        }
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [node]}})
        mocked_responses.post(GRAPHQL_URL, json=more)
        order = make_adapter().fetch_order("5550001112223")
        assert [line.sku for line in order.lines] == ["TSHIRT-M-BLK", "MUG-WHT"]
        assert json.loads(mocked_responses.calls[1].request.body)["variables"] == {
            "id": "gid://shopify/Order/5550001112223",
            "after": "c1",
        }

    def test_it_counts_orders_in_a_window(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json={"data": {"ordersCount": {"count": 1234, "precision": "EXACT"}}})
        assert make_adapter().count_orders(updated_since=datetime(2026, 1, 1, tzinfo=UTC), updated_until=None) == 1234


class TestFetchingOrders:
    def test_unknown_ids_are_absent_and_fetch_order_raises_not_found(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [page_node(0), None]}})
        found = make_adapter().fetch_orders(["5550001112223", "999"])
        assert list(found) == ["5550001112223"]
        sent = json.loads(mocked_responses.calls[0].request.body)
        assert sent["variables"]["ids"] == ["gid://shopify/Order/5550001112223", "gid://shopify/Order/999"]

        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [None]}})
        with pytest.raises(OrderNotFound):
            make_adapter().fetch_order("999")


class TestErrors:
    def test_throttled_with_http_200_is_rate_limited_and_retried(self, mocked_responses, monkeypatch):
        waits = []
        monkeypatch.setattr("channels.http._sleep", waits.append)
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/graphql_throttled.json"))
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [page_node(0)]}})
        assert make_adapter().fetch_order("5550001112223").number == "#1042"
        # (962 requested - 762 available) / 100 per second = 2 s, longer than attempt 1 x 1.5 s
        assert waits == [2.0]

    def test_throttling_that_persists_raises_rate_limited(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, json=load_fixture("shopify/graphql_throttled.json"))
        with pytest.raises(RateLimited):
            make_adapter().fetch_order("1")
        assert len(mocked_responses.calls) == 3

    def test_http_429_honours_retry_after(self, mocked_responses, monkeypatch):
        waits = []
        monkeypatch.setattr("channels.http._sleep", waits.append)
        mocked_responses.post(GRAPHQL_URL, status=429, headers={"Retry-After": "4.0"}, json={"errors": "Throttled"})
        mocked_responses.post(GRAPHQL_URL, status=503, body="unavailable")
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [page_node(0)]}})
        make_adapter().fetch_order("5550001112223")
        assert waits == [4.0, 3.0]  # Retry-After beats 1.5 s; then attempt 2 x 1.5 s

    def test_5xx_three_times_is_a_transient_error(self, mocked_responses):
        mocked_responses.post(GRAPHQL_URL, status=503, body="unavailable")
        with pytest.raises(TransientError):
            make_adapter().fetch_order("1")
        assert len(mocked_responses.calls) == 3

    def test_401_is_auth_expired_and_not_retried(self, mocked_responses):
        mocked_responses.post(
            GRAPHQL_URL,
            status=401,
            json={"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
        )
        with pytest.raises(AuthExpired):
            make_adapter().fetch_order("1")
        assert len(mocked_responses.calls) == 1

    def test_a_timeout_is_transient(self, mocked_responses):
        import requests

        mocked_responses.post(GRAPHQL_URL, body=requests.ReadTimeout("read timed out"))
        with pytest.raises(TransientError, match="Timed out"):
            make_adapter().fetch_order("1")

    def test_graphql_query_errors_are_invalid_data(self, mocked_responses):
        mocked_responses.post(
            GRAPHQL_URL,
            json={
                "errors": [
                    {"message": "Field 'foo' doesn't exist on type 'Order'", "extensions": {"code": "undefinedField"}}
                ]
            },
        )
        with pytest.raises(InvalidData, match="doesn't exist"):
            make_adapter().fetch_order("1")
        assert len(mocked_responses.calls) == 1


class TestWebhooks:
    def test_it_accepts_a_correctly_signed_body_and_refuses_a_forged_one(self):
        body = fixture_bytes("shopify/webhook_orders_create.json")
        adapter = make_adapter()
        assert adapter.verify_webhook(headers={"X-Shopify-Hmac-Sha256": sign(body)}, body=body)
        assert not adapter.verify_webhook(headers={"X-Shopify-Hmac-Sha256": sign(body, "other")}, body=body)
        assert not adapter.verify_webhook(headers={"X-Shopify-Hmac-Sha256": sign(body)}, body=body + b" ")
        assert not adapter.verify_webhook(headers={}, body=body)

    def test_rest_and_graphql_shapes_normalise_to_the_same_order(self):
        adapter = make_adapter()
        rest = adapter.parse_webhook(
            headers={"X-Shopify-Topic": "orders/create"}, body=fixture_bytes("shopify/webhook_orders_create.json")
        ).order
        graphql = adapter.normalize_graphql_order(page_node(0))
        for name in (
            "external_id",
            "number",
            "status",
            "payment_status",
            "currency",
            "total",
            "subtotal",
            "shipping_total",
            "customer_name",
            "customer_email",
            "notes",
            "tags",
            "source_updated_at",
            "placed_at",
        ):
            assert getattr(rest, name) == getattr(graphql, name), name
        assert rest.shipping_address == graphql.shipping_address
        assert [(li.sku, li.quantity, li.unit_price, li.variant) for li in rest.lines] == [
            (li.sku, li.quantity, li.unit_price, li.variant) for li in graphql.lines
        ]

    def test_cancelled_orders_are_cancelled_whatever_else_they_say(self):
        data = load_fixture("shopify/webhook_orders_create.json")
        data.update(cancelled_at="2026-11-21T09:00:00-03:00", cancel_reason="customer", financial_status="voided")
        order = (
            make_adapter()
            .parse_webhook(headers={"X-Shopify-Topic": "orders/cancelled"}, body=json.dumps(data).encode())
            .order
        )
        assert order.status == "cancelled" and order.payment_status == "refunded"
        assert "CANCELLED" in order.channel_status and "VOIDED" in order.channel_status

    def test_per_channel_status_mappings_override_the_defaults(self):
        adapter = ShopifyAdapter(
            ChannelConnection(
                channel_id=1,
                kind="shopify",
                credentials={"shop": "x", "access_token": "t"},
                status_mappings={
                    "payment_status": {"VOIDED": "pending"},
                    "order_status": {"PARTIALLY_FULFILLED": "shipped"},
                },
            )
        )
        data = load_fixture("shopify/webhook_orders_create.json")
        data.update(financial_status="voided", fulfillment_status="partial")
        order = adapter.parse_webhook(
            headers={"X-Shopify-Topic": "orders/updated"}, body=json.dumps(data).encode()
        ).order
        assert (order.status, order.payment_status) == ("shipped", "pending")

    def test_malformed_bodies_raise_invalid_payload(self):
        adapter = make_adapter()
        with pytest.raises(InvalidPayload):
            adapter.parse_webhook(headers={"X-Shopify-Topic": "orders/create"}, body=b"{not json")
        with pytest.raises(InvalidPayload):
            adapter.parse_webhook(headers={"X-Shopify-Topic": "orders/create"}, body=b'{"id": 1}')

    def test_non_order_topics_are_ignored_with_a_reason(self):
        parsed = make_adapter().parse_webhook(headers={"X-Shopify-Topic": "products/update"}, body=b"{}")
        assert parsed.order is None and "not an order topic" in parsed.ignored_reason

    def test_the_delivery_id_is_the_webhook_id_header(self):
        adapter = make_adapter()
        assert adapter.webhook_delivery_id({"X-Shopify-Webhook-Id": "b54557e4"}, b"{}") == "b54557e4"
        assert adapter.webhook_delivery_id({}, b"{}").startswith("sha256:")


class TestTokens:
    @responses.activate
    def test_refresh_rotates_the_refresh_token(self):
        responses.post(
            "https://test-shop.myshopify.com/admin/oauth/access_token",
            json={
                "access_token": "shpat_new",
                "expires_in": 3600,
                "refresh_token": "shprt_new",
                "refresh_token_expires_in": 7776000,
                "scope": "read_orders,write_orders",
            },
        )
        adapter = make_adapter(
            refresh_token="shprt_old", client_id="cid", client_secret="csec", expires_at="2026-11-23T00:00:00+00:00"
        )
        assert adapter.credentials_expiring(within=__import__("datetime").timedelta(minutes=5))
        refreshed = adapter.refresh_credentials()
        sent = json.loads(responses.calls[0].request.body)
        assert sent == {
            "client_id": "cid",
            "client_secret": "csec",
            "grant_type": "refresh_token",
            "refresh_token": "shprt_old",
        }
        assert refreshed.credentials["access_token"] == "shpat_new"
        assert refreshed.credentials["refresh_token"] == "shprt_new"

    def test_static_tokens_have_no_refresh(self):
        adapter = make_adapter()
        assert adapter.refresh_credentials() is None
        assert not adapter.credentials_expiring(within=__import__("datetime").timedelta(minutes=5))
