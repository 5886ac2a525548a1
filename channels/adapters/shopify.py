"""Shopify: the GraphQL Admin API for reads and writes, webhooks in the REST JSON shape.

REST is legacy since 2024-10 and closed to new public apps since 2025-04, so every call here is
GraphQL. Webhook bodies still arrive as the REST resource, so `normalize_rest_order` and
`normalize_graphql_order` map both shapes onto the same NormalizedOrder, keyed by the numeric
order id (`legacyResourceId` == REST `id`).

Page size follows from Shopify's cost model, not from `first`'s 250 maximum: a query may not
request more than 1,000 points, and each order with its lines, fulfilments and money sets
costs about 96. Large backfills would use bulk operations; steps of 100 orders take ten pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from django.utils.dateparse import parse_datetime

from .. import http as channel_http  # module import: channels.http imports this package back
from .base import (
    AuthExpired,
    Capability,
    ChannelConnection,
    InvalidData,
    InvalidPayload,
    NormalizedLine,
    NormalizedOrder,
    NormalizedShipment,
    OrderNotFound,
    OrderPage,
    RateLimited,
    RefreshedToken,
    WebhookParse,
)

DEFAULT_API_VERSION = "2026-10"
MAX_QUERY_COST = 1000
LINE_ITEMS_PER_PAGE = 20
FULFILLMENTS_PER_ORDER = 5
TRACKING_PER_FULFILLMENT = 3
# Requested cost of one order node in ORDER_FIELDS: the node (1), five money sets (2 each),
# two addresses and the customer (1 each), lineItems (2 + 20 x 3) and fulfilments (5 x 4).
COST_PER_ORDER = 1 + 10 + 3 + (2 + LINE_ITEMS_PER_PAGE * 3) + FULFILLMENTS_PER_ORDER * (1 + TRACKING_PER_FULFILLMENT)
ORDERS_PER_PAGE = (MAX_QUERY_COST - 2) // COST_PER_ORDER

ORDER_TOPICS = {
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/paid",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/edited",
}

_ADDRESS = (
    "name firstName lastName company address1 address2 city province provinceCode zip country countryCodeV2 phone"
)
_MONEY = "shopMoney { amount currencyCode }"
ORDER_FIELDS = f"""
fragment FeniciaOrder on Order {{
  id legacyResourceId name createdAt updatedAt processedAt cancelledAt cancelReason closed closedAt
  displayFinancialStatus displayFulfillmentStatus currencyCode email phone note tags test
  subtotalPriceSet {{ {_MONEY} }} totalPriceSet {{ {_MONEY} }} totalTaxSet {{ {_MONEY} }}
  totalShippingPriceSet {{ {_MONEY} }} totalDiscountsSet {{ {_MONEY} }}
  customer {{ id firstName lastName displayName }}
  shippingAddress {{ {_ADDRESS} }}
  billingAddress {{ {_ADDRESS} }}
  lineItems(first: {LINE_ITEMS_PER_PAGE}) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ id sku title variantTitle quantity currentQuantity originalUnitPriceSet {{ {_MONEY} }} }}
  }}
  fulfillments(first: {FULFILLMENTS_PER_ORDER}) {{
    id status displayStatus createdAt trackingInfo(first: {TRACKING_PER_FULFILLMENT}) {{ company number url }}
  }}
}}
"""
LIST_ORDERS = (
    ORDER_FIELDS
    + """
query FeniciaListOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { ...FeniciaOrder }
  }
}
"""
)
GET_ORDERS = (
    ORDER_FIELDS
    + """
query FeniciaGetOrders($ids: [ID!]!) {
  nodes(ids: $ids) { ... on Order { ...FeniciaOrder } }
}
"""
)
COUNT_ORDERS = """
query FeniciaCountOrders($query: String) {
  ordersCount(query: $query, limit: null) { count precision }
}
"""
MORE_LINE_ITEMS = f"""
query FeniciaMoreLineItems($id: ID!, $after: String) {{
  order(id: $id) {{
    lineItems(first: 100, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ id sku title variantTitle quantity currentQuantity originalUnitPriceSet {{ {_MONEY} }} }}
    }}
  }}
}}
"""

# Shopify vocabulary -> ours. Per-channel overrides live in Channel.status_mappings.
PAYMENT_STATUS = {
    "PENDING": "pending",
    "AUTHORIZED": "pending",
    "PARTIALLY_PAID": "pending",
    "EXPIRED": "pending",
    "PAID": "paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "REFUNDED": "refunded",
    # Judgement call: nothing was collected on a voided authorisation; the raw value is kept.
    "VOIDED": "refunded",
}
ACCEPTED_FINANCIAL = {"PAID", "PARTIALLY_PAID", "AUTHORIZED", "PARTIALLY_REFUNDED", "REFUNDED"}
REST_FULFILLMENT = {
    None: "UNFULFILLED",
    "": "UNFULFILLED",
    "partial": "PARTIALLY_FULFILLED",
    "fulfilled": "FULFILLED",
    "restocked": "RESTOCKED",
}


def order_gid(external_id: str) -> str:
    return external_id if external_id.startswith("gid://") else f"gid://shopify/Order/{external_id}"


def _decimal(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidPayload(f"Not a money amount: {value!r}") from exc


def _money(money_set: Mapping[str, Any] | None) -> Decimal:
    if not money_set:
        return Decimal("0")
    return _decimal((money_set.get("shopMoney") or money_set.get("shop_money") or {}).get("amount"))


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise InvalidPayload(f"Not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _gid_tail(gid: str | None) -> str:
    return (gid or "").rsplit("/", 1)[-1]


def _address(data: Mapping[str, Any] | None) -> dict[str, Any]:
    if not data:
        return {}
    name = data.get("name") or " ".join(
        p for p in (data.get("firstName") or data.get("first_name"), data.get("lastName") or data.get("last_name")) if p
    )
    address = {
        "name": name or "",
        "company": data.get("company") or "",
        "address1": data.get("address1") or "",
        "address2": data.get("address2") or "",
        "city": data.get("city") or "",
        "province": data.get("province") or "",
        "province_code": data.get("provinceCode") or data.get("province_code") or "",
        "zip": data.get("zip") or "",
        "country": data.get("country") or "",
        "country_code": data.get("countryCodeV2") or data.get("country_code") or "",
        "phone": data.get("phone") or "",
    }
    return {k: v for k, v in address.items() if v}


class ShopifyAdapter:
    kind = "shopify"
    capabilities = frozenset({Capability.WEBHOOKS, Capability.POLLING, Capability.FETCH_ONE})
    poll_end_lag = timedelta(seconds=30)
    poll_overlap = timedelta(minutes=5)
    max_page_size = ORDERS_PER_PAGE

    def __init__(self, connection: ChannelConnection, *, http: channel_http.HttpClient | None = None) -> None:
        self.connection = connection
        self.credentials = dict(connection.credentials)
        self.http = http or channel_http.HttpClient()

    # -- plumbing ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.connection.api_base_url:
            return self.connection.api_base_url.rstrip("/")
        shop = self.credentials.get("shop", "")
        if not shop:
            raise AuthExpired("The channel has no shop domain configured")
        return f"https://{shop}"

    @property
    def api_version(self) -> str:
        return self.credentials.get("api_version") or DEFAULT_API_VERSION

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    def graphql(self, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        token = self.credentials.get("access_token", "")
        if not token:
            raise AuthExpired("The channel has no access token")
        response = self.http.request(
            "POST",
            self.graphql_url,
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
            json={"query": query, "variables": dict(variables)},
            inspect=self._raise_for_graphql_errors,
        )
        return response.json()["data"]

    @staticmethod
    def _raise_for_graphql_errors(response: requests.Response) -> None:
        """GraphQL reports throttling and query errors with HTTP 200 in `errors`."""
        try:
            payload = response.json()
        except ValueError as exc:
            raise InvalidPayload("Shopify answered with something that is not JSON") from exc
        errors = payload.get("errors")
        if not errors:
            if payload.get("data") is None:
                raise InvalidPayload("Shopify answered without data")
            return
        if isinstance(errors, str):  # REST-style {"errors": "[API] Invalid API key..."}
            raise AuthExpired(f"Shopify: {errors}", status=response.status_code)
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        messages = "; ".join(e.get("message", "") for e in errors)
        if "THROTTLED" in codes:
            cost = (payload.get("extensions") or {}).get("cost") or {}
            status = cost.get("throttleStatus") or {}
            needed = float(cost.get("requestedQueryCost") or 0) - float(status.get("currentlyAvailable") or 0)
            rate = float(status.get("restoreRate") or 0) or 50.0
            raise RateLimited(
                f"Shopify throttled the query: {messages}",
                retry_after=max(needed / rate, 1.0),
                status=response.status_code,
                details=cost,
            )
        if "ACCESS_DENIED" in codes:
            raise AuthExpired(f"Shopify denied access: {messages}", status=response.status_code)
        raise InvalidData(
            f"Shopify rejected the query: {messages}", status=response.status_code, details={"errors": errors}
        )

    # -- reading orders -------------------------------------------------------------------
    @staticmethod
    def search_query(updated_since: datetime, updated_until: datetime | None) -> str:
        """Shopify's search syntax; the connection has no status filter, so cancelled and
        closed orders are included (unlike REST's default status=open)."""
        query = f"updated_at:>='{updated_since.astimezone(UTC).isoformat().replace('+00:00', 'Z')}'"
        if updated_until is not None:
            query += f" AND updated_at:<='{updated_until.astimezone(UTC).isoformat().replace('+00:00', 'Z')}'"
        return query

    def list_orders(
        self, *, updated_since: datetime, updated_until: datetime | None, cursor: str | None, limit: int
    ) -> OrderPage:
        variables = {
            "first": max(1, min(limit, self.max_page_size)),
            "after": cursor or None,
            "query": self.search_query(updated_since, updated_until),
        }
        data = self.graphql(LIST_ORDERS, variables)
        connection = data["orders"]
        orders = [self.normalize_graphql_order(self._complete_lines(node)) for node in connection["nodes"]]
        page_info = connection.get("pageInfo") or {}
        return OrderPage(
            orders=orders, next_cursor=page_info.get("endCursor") if page_info.get("hasNextPage") else None
        )

    def count_orders(self, *, updated_since: datetime, updated_until: datetime | None) -> int | None:
        data = self.graphql(COUNT_ORDERS, {"query": self.search_query(updated_since, updated_until)})
        count = data.get("ordersCount") or {}
        return count.get("count")

    def fetch_orders(self, external_ids: Sequence[str]) -> dict[str, NormalizedOrder]:
        found: dict[str, NormalizedOrder] = {}
        ids = list(external_ids)
        for start in range(0, len(ids), self.max_page_size):
            chunk = [order_gid(i) for i in ids[start : start + self.max_page_size]]
            data = self.graphql(GET_ORDERS, {"ids": chunk})
            for node in data.get("nodes") or []:
                if node:  # Shopify answers null for ids it doesn't know
                    order = self.normalize_graphql_order(self._complete_lines(node))
                    found[order.external_id] = order
        return found

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        found = self.fetch_orders([external_id])
        if external_id not in found:
            raise OrderNotFound(f"Shopify has no order {external_id}", status=404)
        return found[external_id]

    def _complete_lines(self, node: dict[str, Any]) -> dict[str, Any]:
        """Orders with more lines than one page carries get the rest with follow-up queries."""
        line_items = node.get("lineItems") or {}
        page_info = line_items.get("pageInfo") or {}
        while page_info.get("hasNextPage"):
            data = self.graphql(MORE_LINE_ITEMS, {"id": node["id"], "after": page_info.get("endCursor")})
            more = (data.get("order") or {}).get("lineItems") or {}
            line_items.setdefault("nodes", []).extend(more.get("nodes") or [])
            page_info = more.get("pageInfo") or {}
        return node

    # -- normalisation --------------------------------------------------------------------
    def _mapped(self, table: str, raw: str, default: str) -> str:
        overrides = (self.connection.status_mappings or {}).get(table) or {}
        return overrides.get(raw, default)

    def _statuses(self, *, financial: str, fulfillment: str, cancelled: bool, delivered: bool) -> tuple[str, str, str]:
        payment = self._mapped("payment_status", financial, PAYMENT_STATUS.get(financial, "pending"))
        if cancelled:
            status = "cancelled"
        elif fulfillment == "FULFILLED" and delivered:
            status = "delivered"
        elif fulfillment == "FULFILLED":
            status = "shipped"
        elif financial in ACCEPTED_FINANCIAL:
            # Partially fulfilled stays accepted: part of it still has to leave the warehouse.
            status = "accepted"
        else:
            status = "pending"
        status = self._mapped("order_status", fulfillment, status) if not cancelled else status
        channel_status = " · ".join(p for p in (financial, fulfillment, "CANCELLED" if cancelled else "") if p)
        return status, payment, channel_status

    def normalize_graphql_order(self, node: Mapping[str, Any]) -> NormalizedOrder:
        try:
            fulfillments = [f for f in node.get("fulfillments") or [] if f]
            shipments = []
            for f in fulfillments:
                tracking = (f.get("trackingInfo") or [{}])[0] if f.get("trackingInfo") else {}
                shipments.append(
                    NormalizedShipment(
                        external_id=_gid_tail(f.get("id")),
                        status=(f.get("displayStatus") or f.get("status") or "").lower(),
                        carrier=tracking.get("company") or "",
                        tracking_number=tracking.get("number") or "",
                        tracking_url=tracking.get("url") or "",
                        shipped_at=_when(f.get("createdAt")),
                    )
                )
            live = [f for f in fulfillments if (f.get("status") or "").upper() not in ("CANCELLED", "ERROR", "FAILURE")]
            delivered = bool(live) and all((f.get("displayStatus") or "").upper() == "DELIVERED" for f in live)
            status, payment, channel_status = self._statuses(
                financial=(node.get("displayFinancialStatus") or "PENDING").upper(),
                fulfillment=(node.get("displayFulfillmentStatus") or "UNFULFILLED").upper(),
                cancelled=bool(node.get("cancelledAt")),
                delivered=delivered,
            )
            customer = node.get("customer") or {}
            shipping = _address(node.get("shippingAddress"))
            customer_name = (
                customer.get("displayName")
                or " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p)
                or shipping.get("name", "")
            )
            lines = [
                NormalizedLine(
                    external_id=_gid_tail(li.get("id")),
                    sku=li.get("sku") or "",
                    title=li.get("title") or "",
                    variant=li.get("variantTitle") or "",
                    quantity=int(
                        li["currentQuantity"] if li.get("currentQuantity") is not None else li.get("quantity") or 0
                    ),
                    unit_price=_money(li.get("originalUnitPriceSet")),
                )
                for li in (node.get("lineItems") or {}).get("nodes") or []
            ]
            return NormalizedOrder(
                external_id=str(node.get("legacyResourceId") or _gid_tail(node["id"])),
                number=node.get("name") or "",
                status=status,
                payment_status=payment,
                channel_status=channel_status,
                currency=node.get("currencyCode") or "",
                total=_money(node.get("totalPriceSet")),
                subtotal=_money(node.get("subtotalPriceSet")),
                shipping_total=_money(node.get("totalShippingPriceSet")),
                tax_total=_money(node.get("totalTaxSet")),
                discount_total=_money(node.get("totalDiscountsSet")),
                customer_name=customer_name,
                customer_email=node.get("email") or "",
                customer_phone=node.get("phone") or shipping.get("phone", ""),
                shipping_address=shipping,
                billing_address=_address(node.get("billingAddress")),
                notes=node.get("note") or "",
                tags=[t for t in node.get("tags") or [] if t],
                placed_at=_when(node.get("processedAt") or node.get("createdAt")),
                source_updated_at=_when(node["updatedAt"]),  # type: ignore[arg-type]
                lines=lines,
                shipments=shipments,
                raw=dict(node),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidPayload(f"Unexpected Shopify order shape: {exc!r}") from exc

    def normalize_rest_order(self, data: Mapping[str, Any]) -> NormalizedOrder:
        """The REST resource, as webhooks deliver it."""
        try:
            fulfillments = [f for f in data.get("fulfillments") or [] if f]
            shipments = [
                NormalizedShipment(
                    external_id=str(f.get("id")),
                    status=(f.get("shipment_status") or f.get("status") or "").lower(),
                    carrier=f.get("tracking_company") or "",
                    tracking_number=f.get("tracking_number") or next(iter(f.get("tracking_numbers") or []), ""),
                    tracking_url=f.get("tracking_url") or next(iter(f.get("tracking_urls") or []), ""),
                    shipped_at=_when(f.get("created_at")),
                )
                for f in fulfillments
            ]
            live = [f for f in fulfillments if (f.get("status") or "").lower() not in ("cancelled", "error", "failure")]
            delivered = bool(live) and all((f.get("shipment_status") or "").lower() == "delivered" for f in live)
            financial = (data.get("financial_status") or "pending").upper()
            fulfillment = REST_FULFILLMENT.get(
                data.get("fulfillment_status"), str(data.get("fulfillment_status")).upper()
            )
            status, payment, channel_status = self._statuses(
                financial=financial,
                fulfillment=fulfillment,
                cancelled=bool(data.get("cancelled_at")),
                delivered=delivered,
            )
            customer = data.get("customer") or {}
            shipping = _address(data.get("shipping_address"))
            customer_name = " ".join(
                p for p in (customer.get("first_name"), customer.get("last_name")) if p
            ) or shipping.get("name", "")
            tags = data.get("tags") or ""
            lines = [
                NormalizedLine(
                    external_id=str(li.get("id", "")),
                    sku=li.get("sku") or "",
                    title=li.get("title") or "",
                    variant=li.get("variant_title") or "",
                    quantity=int(
                        li["current_quantity"] if li.get("current_quantity") is not None else li.get("quantity") or 0
                    ),
                    unit_price=_decimal(li.get("price")),
                )
                for li in data.get("line_items") or []
            ]
            return NormalizedOrder(
                external_id=str(data["id"]),
                number=data.get("name") or str(data.get("order_number") or ""),
                status=status,
                payment_status=payment,
                channel_status=channel_status,
                currency=data.get("currency") or "",
                total=_decimal(data.get("total_price")),
                subtotal=_decimal(data.get("subtotal_price")),
                shipping_total=_money(data.get("total_shipping_price_set")),
                tax_total=_decimal(data.get("total_tax")),
                discount_total=_decimal(data.get("total_discounts")),
                customer_name=customer_name,
                customer_email=data.get("email") or data.get("contact_email") or "",
                customer_phone=data.get("phone") or shipping.get("phone", ""),
                shipping_address=shipping,
                billing_address=_address(data.get("billing_address")),
                notes=data.get("note") or "",
                tags=[t.strip() for t in tags.split(",") if t.strip()] if isinstance(tags, str) else list(tags),
                placed_at=_when(data.get("processed_at") or data.get("created_at")),
                source_updated_at=_when(data["updated_at"]),  # type: ignore[arg-type]
                lines=lines,
                shipments=shipments,
                raw=dict(data),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidPayload(f"Unexpected Shopify webhook order shape: {exc!r}") from exc

    # -- webhooks -------------------------------------------------------------------------
    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> bool:
        secret = self.connection.webhook_secret
        signature = headers.get("X-Shopify-Hmac-Sha256") or ""
        if not secret or not signature:
            return False
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        return hmac.compare_digest(expected, signature.strip().encode())

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        delivery = headers.get("X-Shopify-Webhook-Id") or headers.get("X-Shopify-Event-Id")
        # No id header at all: the body's digest still dedupes exact repeats.
        return delivery or "sha256:" + hashlib.sha256(body).hexdigest()

    def webhook_topic(self, headers: Mapping[str, str]) -> str:
        return headers.get("X-Shopify-Topic") or ""

    def parse_webhook(self, *, headers: Mapping[str, str], body: bytes) -> WebhookParse:
        topic = self.webhook_topic(headers)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidPayload(f"Webhook body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidPayload("Webhook body is not a JSON object")
        if topic not in ORDER_TOPICS:
            return WebhookParse(topic=topic, ignored_reason=f"Topic {topic or '(none)'} is not an order topic")
        return WebhookParse(topic=topic, order=self.normalize_rest_order(data))

    # -- tokens ---------------------------------------------------------------------------
    def credentials_expiring(self, *, within: timedelta) -> bool:
        expires_at = _when(self.credentials.get("expires_at"))
        return bool(expires_at and self.credentials.get("refresh_token") and expires_at - within <= datetime.now(UTC))

    def refresh_credentials(self) -> RefreshedToken | None:
        """Expiring offline tokens: the refresh token rotates on every use, so the caller must
        hold the channel's row lock and store the pair we return before anyone else refreshes."""
        refresh_token = self.credentials.get("refresh_token")
        if not refresh_token:
            return None
        response = self.http.request(
            "POST",
            f"{self.base_url}/admin/oauth/access_token",
            json={
                "client_id": self.credentials.get("client_id", ""),
                "client_secret": self.credentials.get("client_secret", ""),
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
            retry=False,
        )
        data = response.json()
        now = datetime.now(UTC)
        updated = dict(self.credentials)
        updated.update(
            {
                "access_token": data["access_token"],
                "refresh_token": data.get("refresh_token", refresh_token),
                "expires_at": (now + timedelta(seconds=int(data.get("expires_in", 3600)))).isoformat(),
            }
        )
        if data.get("refresh_token_expires_in"):
            updated["refresh_token_expires_at"] = (
                now + timedelta(seconds=int(data["refresh_token_expires_in"]))
            ).isoformat()
        self.credentials = updated
        return RefreshedToken(credentials=updated)
