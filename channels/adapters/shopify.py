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
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from django.utils.dateparse import parse_datetime

from .. import http as channel_http  # module import: channels.http imports this package back
from .base import (
    AuthExpired,
    CancelPush,
    Capability,
    ChannelConnection,
    ChannelError,
    InvalidData,
    InvalidPayload,
    NormalizedLine,
    NormalizedOrder,
    NormalizedShipment,
    OrderNotFound,
    OrderPage,
    PushResult,
    RateLimited,
    RefreshedToken,
    ShipmentPush,
    StockItem,
    StockPushResult,
    TrackingPush,
    TransientError,
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

# -- outbound: what a push reads first, and the mutations ----------------------------------
# One read answers every question a shipment push asks (cancelled? already there? which
# fulfilment-order lines carry our lines?). Sized so its requested cost stays well under 1,000;
# longer fulfilment orders and further fulfilment orders are paged with follow-up queries.
FULFILLMENT_ORDERS_PER_PAGE = 5
LINES_PER_FULFILLMENT_ORDER = 40
FULFILLMENTS_READ = 10  # Order.fulfillments is a plain list: orders with more are not paged
LINES_PER_FULFILLMENT = 20
_FO_LINE = "id remainingQuantity totalQuantity lineItem { id }"
_FULFILLMENT_ORDER = (
    f"id status lineItems(first: {LINES_PER_FULFILLMENT_ORDER}) "
    f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_FO_LINE} }} }}"
)
# order (1) + fulfilment orders (2 + 5 x (1 + 2 + 40 x 2)) + fulfilments (10 x (1 + 3 + 2 + 20 x 2))
FULFILLMENT_STATE_COST = (
    1
    + (2 + FULFILLMENT_ORDERS_PER_PAGE * (1 + 2 + LINES_PER_FULFILLMENT_ORDER * 2))
    + FULFILLMENTS_READ * (1 + TRACKING_PER_FULFILLMENT + 2 + LINES_PER_FULFILLMENT * 2)
)
FULFILLMENT_STATE = f"""
query FeniciaFulfillmentState($id: ID!) {{
  order(id: $id) {{
    id legacyResourceId cancelledAt displayFulfillmentStatus
    fulfillmentOrders(first: {FULFILLMENT_ORDERS_PER_PAGE}) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {_FULFILLMENT_ORDER} }}
    }}
    fulfillments(first: {FULFILLMENTS_READ}) {{
      id status createdAt trackingInfo(first: {TRACKING_PER_FULFILLMENT}) {{ company number url }}
      fulfillmentLineItems(first: {LINES_PER_FULFILLMENT}) {{
        pageInfo {{ hasNextPage }}
        nodes {{ quantity lineItem {{ id }} }}
      }}
    }}
  }}
}}
"""
MORE_FULFILLMENT_ORDERS = f"""
query FeniciaMoreFulfillmentOrders($id: ID!, $after: String) {{
  order(id: $id) {{
    fulfillmentOrders(first: {FULFILLMENT_ORDERS_PER_PAGE}, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {_FULFILLMENT_ORDER} }}
    }}
  }}
}}
"""
MORE_FULFILLMENT_ORDER_LINES = f"""
query FeniciaMoreFulfillmentOrderLines($id: ID!, $after: String) {{
  fulfillmentOrder(id: $id) {{
    lineItems(first: 100, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {_FO_LINE} }} }}
  }}
}}
"""
ORDER_CANCEL_STATE = """
query FeniciaOrderCancelState($id: ID!) {
  order(id: $id) { id legacyResourceId cancelledAt cancelReason }
}
"""
_FULFILLMENT_RESULT = f"id status createdAt trackingInfo(first: {TRACKING_PER_FULFILLMENT}) {{ company number url }}"
FULFILLMENT_CREATE = f"""
mutation FeniciaFulfillmentCreate($fulfillment: FulfillmentInput!) {{
  fulfillmentCreate(fulfillment: $fulfillment) {{
    fulfillment {{ {_FULFILLMENT_RESULT} }}
    userErrors {{ field message }}
  }}
}}
"""
FULFILLMENT_TRACKING_UPDATE = f"""
mutation FeniciaFulfillmentTrackingUpdate(
  $fulfillmentId: ID!, $trackingInfoInput: FulfillmentTrackingInput!, $notifyCustomer: Boolean
) {{
  fulfillmentTrackingInfoUpdate(
    fulfillmentId: $fulfillmentId, trackingInfoInput: $trackingInfoInput, notifyCustomer: $notifyCustomer
  ) {{
    fulfillment {{ {_FULFILLMENT_RESULT} }}
    userErrors {{ field message }}
  }}
}}
"""
# `refund: Boolean!` gave way to `refundMethod` in 2025-07 (deprecated, then optional).
_ORDER_CANCEL = """
mutation FeniciaOrderCancel(
  $orderId: ID!, $reason: OrderCancelReason!, $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String,
  %(declaration)s
) {
  orderCancel(
    orderId: $orderId, reason: $reason, restock: $restock, notifyCustomer: $notifyCustomer, staffNote: $staffNote,
    %(argument)s
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""
ORDER_CANCEL = _ORDER_CANCEL % {
    "declaration": "$refundMethod: OrderCancelRefundMethodInput",
    "argument": "refundMethod: $refundMethod",
}
ORDER_CANCEL_BEFORE_2025_07 = _ORDER_CANCEL % {"declaration": "$refund: Boolean!", "argument": "refund: $refund"}
REFUND_METHOD_SINCE = "2025-07"
CANCEL_REASONS = {
    "customer": "CUSTOMER",
    "declined": "DECLINED",
    "fraud": "FRAUD",
    "inventory": "INVENTORY",
    "other": "OTHER",
    "staff": "STAFF",
}
FULFILLABLE_STATUSES = {"OPEN", "IN_PROGRESS"}
DEAD_FULFILLMENT_STATUSES = {"CANCELLED", "ERROR", "FAILURE"}

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
# displayFulfillmentStatus -> NormalizedOrder.fulfillment_status; anything else is unfulfilled.
FULFILLMENT_STATUS = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partially_fulfilled"}


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


def fulfillment_gid(external_id: str) -> str:
    return external_id if external_id.startswith("gid://") else f"gid://shopify/Fulfillment/{external_id}"


@dataclass
class _Plan:
    """A shipment push worked out against what Shopify holds now: either a fulfilment that already
    carries it (`existing`), or the FulfillmentInput lines to send."""

    existing: str = ""
    by_fulfillment_order: list[dict[str, Any]] | None = None


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
    capabilities = frozenset(
        {
            Capability.WEBHOOKS,
            Capability.POLLING,
            Capability.FETCH_ONE,
            Capability.SHIP,
            Capability.ADD_TRACKING,
            Capability.CANCEL,
        }
    )
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

    def graphql(self, query: str, variables: Mapping[str, Any], *, retry: bool = True) -> dict[str, Any]:
        """POST one operation; `retry=False` for a mutation that must not be re-sent blindly (a
        dropped answer may hide one that took effect: the outbound methods re-read instead)."""
        token = self.credentials.get("access_token", "")
        if not token:
            raise AuthExpired("The channel has no access token")
        response = self.http.request(
            "POST",
            self.graphql_url,
            headers={"X-Shopify-Access-Token": token, "Content-Type": "application/json"},
            json={"query": query, "variables": dict(variables)},
            inspect=self._raise_for_graphql_errors,
            retry=retry,
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
            fulfillment = (node.get("displayFulfillmentStatus") or "UNFULFILLED").upper()
            status, payment, channel_status = self._statuses(
                financial=(node.get("displayFinancialStatus") or "PENDING").upper(),
                fulfillment=fulfillment,
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
                fulfillment_status=FULFILLMENT_STATUS.get(fulfillment, "unfulfilled"),
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
                fulfillment_status=FULFILLMENT_STATUS.get(fulfillment, "unfulfilled"),
                raw=dict(data),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidPayload(f"Unexpected Shopify webhook order shape: {exc!r}") from exc

    # -- outbound -------------------------------------------------------------------------
    # A mutation is sent with retry=False: if its answer is lost (timeout, dropped connection,
    # 5xx), it may still have taken effect, so the next attempt first re-reads the order and
    # only sends again when Shopify doesn't hold the change. Attempts follow the HTTP client's.
    def _attempts(self) -> int:
        return max(1, int(getattr(self.http, "attempts", 1) or 1))

    @staticmethod
    def _wait_before_retry(attempt: int, error: ChannelError) -> None:
        channel_http._sleep(channel_http.retry_wait(attempt, getattr(error, "retry_after", None)))

    @staticmethod
    def _user_errors(what: str, errors: list[dict[str, Any]]) -> InvalidData:
        messages = "; ".join(e.get("message") or "" for e in errors)
        return InvalidData(f"Shopify refused {what}: {messages}", status=200, details={"user_errors": errors})

    def _fulfillment_state(self, order_external_id: str) -> dict[str, Any]:
        """The order's cancellation, fulfilment orders (every page) and recent fulfilments."""
        gid = order_gid(order_external_id)
        order = self.graphql(FULFILLMENT_STATE, {"id": gid}).get("order")
        if not order:
            raise OrderNotFound(f"Shopify has no order {order_external_id}", status=404)
        connection = order.get("fulfillmentOrders") or {}
        nodes = list(connection.get("nodes") or [])
        page = connection.get("pageInfo") or {}
        while page.get("hasNextPage"):
            more = self.graphql(MORE_FULFILLMENT_ORDERS, {"id": gid, "after": page.get("endCursor")})
            connection = (more.get("order") or {}).get("fulfillmentOrders") or {}
            nodes += connection.get("nodes") or []
            page = connection.get("pageInfo") or {}
        for fo in nodes:
            lines = fo.setdefault("lineItems", {})
            page = lines.get("pageInfo") or {}
            while page.get("hasNextPage"):
                more = self.graphql(MORE_FULFILLMENT_ORDER_LINES, {"id": fo["id"], "after": page.get("endCursor")})
                connection = (more.get("fulfillmentOrder") or {}).get("lineItems") or {}
                lines.setdefault("nodes", []).extend(connection.get("nodes") or [])
                page = connection.get("pageInfo") or {}
        order["fulfillmentOrders"] = {"nodes": nodes}
        return order

    @staticmethod
    def _live_fulfillments(order: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Fulfilments that stand (not cancelled or failed), newest first."""
        live = [
            f
            for f in order.get("fulfillments") or []
            if f and (f.get("status") or "").upper() not in DEAD_FULFILLMENT_STATUSES
        ]
        # Same-second ties keep Shopify's order (oldest first), reversed.
        ordered = sorted(enumerate(live), key=lambda pair: (pair[1].get("createdAt") or "", pair[0]), reverse=True)
        return [f for _, f in ordered]

    @staticmethod
    def _fulfilled_lines(fulfillment: Mapping[str, Any]) -> dict[str, int]:
        quantities: dict[str, int] = {}
        for node in (fulfillment.get("fulfillmentLineItems") or {}).get("nodes") or []:
            key = _gid_tail((node.get("lineItem") or {}).get("id"))
            quantities[key] = quantities.get(key, 0) + int(node.get("quantity") or 0)
        return quantities

    def _plan_shipment(self, order: Mapping[str, Any], push: ShipmentPush, earlier: set[str] | None) -> _Plan:
        """Compare the push with what Shopify holds. `earlier` is the fulfilment ids seen by this
        call's first attempt: on a later attempt, a new fulfilment of exactly our lines is ours."""
        live = self._live_fulfillments(order)
        fulfillment_orders = (order.get("fulfillmentOrders") or {}).get("nodes") or []
        wanted: dict[str, int] = {}
        for line in push.lines:
            key = _gid_tail(str(line.line_external_id))
            if int(line.quantity) < 1:
                raise InvalidData(f"Line item {key}: the quantity to ship must be at least 1, not {line.quantity}")
            wanted[key] = wanted.get(key, 0) + int(line.quantity)
        remaining: dict[str, int] = {}  # per line, in fulfilment orders that can be fulfilled now
        held: dict[str, int] = {}  # per line, in fulfilment orders on hold, scheduled...
        for fo in fulfillment_orders:
            fulfillable = (fo.get("status") or "").upper() in FULFILLABLE_STATUSES
            for item in (fo.get("lineItems") or {}).get("nodes") or []:
                key = _gid_tail((item.get("lineItem") or {}).get("id"))
                bucket = remaining if fulfillable else held
                bucket[key] = bucket.get(key, 0) + int(item.get("remainingQuantity") or 0)
        if not push.lines:  # no lines given: everything that is still to ship
            wanted = {key: quantity for key, quantity in remaining.items() if quantity > 0}

        # 1. Already there? The same tracking number on a live fulfilment...
        number = push.tracking_number.strip()
        if number:
            for f in live:
                if any((t.get("number") or "").strip() == number for t in f.get("trackingInfo") or []):
                    return _Plan(existing=_gid_tail(f.get("id")))
        shipped: dict[str, int] = {}
        for f in live:
            for key, quantity in self._fulfilled_lines(f).items():
                shipped[key] = shipped.get(key, 0) + quantity
        # ... or, without one, every line we ship already fully shipped.
        if not number and live:
            targets = wanted if push.lines else {key: 0 for key in shipped}
            done = all(remaining.get(k, 0) + held.get(k, 0) == 0 and shipped.get(k, 0) > 0 for k in targets)
            if targets and done:
                mine = [f for f in live if set(self._fulfilled_lines(f)) & set(targets)]
                return _Plan(existing=_gid_tail((mine or live)[0].get("id")))
        # ... or (a retry within this call) a fulfilment that appeared since and carries exactly our lines.
        if earlier is not None and wanted:
            for f in live:
                if _gid_tail(f.get("id")) not in earlier and self._fulfilled_lines(f) == wanted:
                    return _Plan(existing=_gid_tail(f.get("id")))

        if order.get("cancelledAt"):
            raise InvalidData(
                f"Shopify order {push.order_external_id} was cancelled at the channel; the shipment was not pushed",
                details={"conflict": "cancelled", "cancelled_at": order.get("cancelledAt")},
            )
        if not wanted:
            raise InvalidData(f"Shopify order {push.order_external_id} has nothing left to fulfil")

        # 2. Spread each line over the fulfilment-order lines that still hold it.
        plan: dict[str, dict[str, int]] = {}
        left = {
            item["id"]: int(item.get("remainingQuantity") or 0)
            for fo in fulfillment_orders
            for item in (fo.get("lineItems") or {}).get("nodes") or []
        }
        for key, quantity in wanted.items():
            need = quantity
            for fo in fulfillment_orders:
                if (fo.get("status") or "").upper() not in FULFILLABLE_STATUSES:
                    continue
                for item in (fo.get("lineItems") or {}).get("nodes") or []:
                    if need and _gid_tail((item.get("lineItem") or {}).get("id")) == key and left[item["id"]] > 0:
                        take = min(need, left[item["id"]])
                        left[item["id"]] -= take
                        need -= take
                        plan.setdefault(fo["id"], {})
                        plan[fo["id"]][item["id"]] = plan[fo["id"]].get(item["id"], 0) + take
            if need:
                if key not in remaining and key not in held:
                    raise InvalidData(f"Shopify order {push.order_external_id} has no line item {key} to fulfil")
                message = (
                    f"Line item {key}: asked to ship {quantity}, but only {quantity - need} "
                    f"remain unfulfilled at Shopify"
                )
                if held.get(key):
                    message += f" ({held[key]} more in fulfilment orders on hold, scheduled or closed)"
                raise InvalidData(message, details={"line": key, "requested": quantity, "available": quantity - need})
        return _Plan(
            by_fulfillment_order=[
                {
                    "fulfillmentOrderId": fo_id,
                    "fulfillmentOrderLineItems": [{"id": i, "quantity": q} for i, q in items.items()],
                }
                for fo_id, items in plan.items()
            ]
        )

    def push_shipment(self, push: ShipmentPush) -> PushResult:
        """Mark lines shipped with a `fulfillmentCreate` on the order's fulfilment orders.

        Reads first: a live fulfilment with the same tracking number (or, without one, lines that
        are all fully fulfilled already) is returned with already_done=True and nothing is sent.
        Line ids are our NormalizedLine ids (numeric LineItem ids); their quantities are spread over
        the open fulfilment orders that still hold them; no lines means everything left.
        Raises InvalidData for an order cancelled at Shopify, more than remains, an unknown line,
        or Shopify's userErrors; OrderNotFound; RateLimited/TransientError after the last attempt.
        Returns the fulfilment's numeric id."""
        earlier: set[str] | None = None
        attempts = self._attempts()
        for attempt in range(1, attempts + 1):
            order = self._fulfillment_state(push.order_external_id)
            plan = self._plan_shipment(order, push, earlier)
            if plan.existing:
                return PushResult(
                    external_id=plan.existing,
                    already_done=earlier is None,
                    details={"confirmed_after": attempt - 1} if earlier is not None else {},
                )
            earlier = {_gid_tail(f.get("id")) for f in order.get("fulfillments") or [] if f}
            fulfillment: dict[str, Any] = {
                "lineItemsByFulfillmentOrder": plan.by_fulfillment_order,
                "notifyCustomer": bool(push.notify_customer),
            }
            tracking = {"company": push.carrier, "number": push.tracking_number, "url": push.tracking_url}
            if any(tracking.values()):
                fulfillment["trackingInfo"] = {k: v for k, v in tracking.items() if v}
            try:
                data = self.graphql(FULFILLMENT_CREATE, {"fulfillment": fulfillment}, retry=False)
            except (RateLimited, TransientError) as exc:
                if attempt == attempts:
                    raise
                self._wait_before_retry(attempt, exc)
                continue
            payload = data.get("fulfillmentCreate") or {}
            if payload.get("userErrors"):
                raise self._user_errors("the fulfilment", payload["userErrors"])
            created = payload.get("fulfillment")
            if not created or not created.get("id"):
                raise InvalidPayload("Shopify accepted the fulfilment but returned none")
            return PushResult(
                external_id=_gid_tail(created["id"]),
                details={"status": (created.get("status") or "").lower(), "tracking": created.get("trackingInfo")},
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def push_tracking(self, push: TrackingPush) -> PushResult:
        """Replace a fulfilment's tracking (`fulfillmentTrackingInfoUpdate`). Sending the same
        tracking twice changes nothing, so this one is retried like a read."""
        if not push.shipment_external_id:
            raise InvalidData("The shipment has no Shopify fulfilment id to add tracking to")
        tracking = {"company": push.carrier, "number": push.tracking_number, "url": push.tracking_url}
        data = self.graphql(
            FULFILLMENT_TRACKING_UPDATE,
            {
                "fulfillmentId": fulfillment_gid(push.shipment_external_id),
                "trackingInfoInput": {k: v for k, v in tracking.items() if v},
                "notifyCustomer": bool(push.notify_customer),
            },
        )
        payload = data.get("fulfillmentTrackingInfoUpdate") or {}
        if payload.get("userErrors"):
            raise self._user_errors("the tracking update", payload["userErrors"])
        updated = payload.get("fulfillment") or {}
        return PushResult(
            external_id=_gid_tail(updated.get("id")) or _gid_tail(push.shipment_external_id),
            details={"tracking": updated.get("trackingInfo")},
        )

    def cancel_order(self, push: CancelPush) -> PushResult:
        """Cancel with `orderCancel`: reason mapped to OrderCancelReason (unknown ones are OTHER),
        restock, notifyCustomer and staffNote passed on. Nothing is refunded (`refundMethod:
        {originalPaymentMethodsRefund: false}`; `refund: false` before 2025-07): money goes back
        through Shopify's refund flow, where staff choose amounts; authorisations are voided by
        Shopify anyway. An order already cancelled there is already_done. Shopify cancels
        asynchronously: `details` carries the job. Raises InvalidData on orderCancelUserErrors."""
        gid = order_gid(push.order_external_id)
        if self.api_version >= REFUND_METHOD_SINCE or not self.api_version[:1].isdigit():
            mutation, refund = ORDER_CANCEL, {"refundMethod": {"originalPaymentMethodsRefund": False}}
        else:
            mutation, refund = ORDER_CANCEL_BEFORE_2025_07, {"refund": False}
        variables = {
            "orderId": gid,
            "reason": CANCEL_REASONS.get((push.reason or "other").lower(), "OTHER"),
            "restock": bool(push.restock),
            "notifyCustomer": bool(push.notify_customer),
            "staffNote": push.staff_note or None,
            **refund,
        }
        attempts = self._attempts()
        for attempt in range(1, attempts + 1):
            order = self.graphql(ORDER_CANCEL_STATE, {"id": gid}).get("order")
            if not order:
                raise OrderNotFound(f"Shopify has no order {push.order_external_id}", status=404)
            external_id = str(order.get("legacyResourceId") or _gid_tail(order.get("id")))
            if order.get("cancelledAt"):
                return PushResult(
                    external_id=external_id,
                    already_done=attempt == 1,
                    details={"cancelled_at": order["cancelledAt"], "cancel_reason": order.get("cancelReason")},
                )
            try:
                data = self.graphql(mutation, variables, retry=False)
            except (RateLimited, TransientError) as exc:
                if attempt == attempts:
                    raise
                self._wait_before_retry(attempt, exc)
                continue
            payload = data.get("orderCancel") or {}
            errors = payload.get("orderCancelUserErrors") or payload.get("userErrors")
            if errors:
                raise self._user_errors("the cancellation", errors)
            job = payload.get("job") or {}
            return PushResult(external_id=external_id, details={"job_id": job.get("id"), "job_done": job.get("done")})
        raise AssertionError("unreachable")  # pragma: no cover

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

    # -- stock (inventory) -----------------------------------------------------------------
    # Kept as one block at the end of the class: absolute quantities, so a repeated call is
    # harmless, and from API 2026-04 on every call also carries an idempotency key.
    capabilities = capabilities | {Capability.PUSH_STOCK}  # extends the set declared at the top
    STOCK_BATCH = 100
    STOCK_VARIANTS_PER_PAGE = 250
    STOCK_IDEMPOTENCY_FROM = "2026-04"  # `@idempotent` and `changeFromQuantity` required from here
    STOCK_VARIANTS_QUERY = """
query FeniciaVariantsBySku($first: Int!, $after: String, $query: String!) {
  productVariants(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes { id sku inventoryItem { id tracked } }
  }
}
"""
    STOCK_LOCATIONS_QUERY = """
query FeniciaLocations { locations(first: 1) { nodes { id name } } }
"""
    STOCK_SET_MUTATION = """
mutation FeniciaSetInventory($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""
    STOCK_SET_MUTATION_LEGACY = """
mutation FeniciaSetInventoryLegacy($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}
"""

    def push_stock(self, items: Sequence[StockItem]) -> list[StockPushResult]:
        """Set each SKU's `available` quantity at the stock location: the variants with that SKU
        (productVariants, `sku:` search), the location from credentials `location_id` or the
        shop's first location, then one inventorySetQuantities per batch. A SKU Shopify doesn't
        know, an untracked item and a userError are that SKU's failure; transport and throttling
        errors raise (the HTTP client has already retried them). Safe to repeat: the quantities
        are absolute and, from 2026-04, each call carries an idempotency key."""
        results: dict[str, StockPushResult] = {}
        items = list(items)
        for start in range(0, len(items), self.STOCK_BATCH):
            batch = items[start : start + self.STOCK_BATCH]
            results.update(self._push_stock_batch(batch))
        return [results[item.sku] for item in items]

    def stock_location_id(self) -> str:
        configured = str(self.credentials.get("location_id") or "").strip()
        if configured:
            return configured if configured.startswith("gid://") else f"gid://shopify/Location/{configured}"
        cached = getattr(self, "_stock_location", None)
        if cached:
            return cached
        nodes = ((self.graphql(self.STOCK_LOCATIONS_QUERY, {}).get("locations") or {}).get("nodes")) or []
        if not nodes:
            raise InvalidData("The Shopify store has no active location to hold stock")
        self._stock_location = nodes[0]["id"]
        return self._stock_location

    def _variants_by_sku(self, skus: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        query = " OR ".join('sku:"{}"'.format(s.replace("\\", "\\\\").replace('"', '\\"')) for s in skus)
        wanted = set(skus)
        found: dict[str, list[dict[str, Any]]] = {}
        after = None
        while True:
            data = self.graphql(
                self.STOCK_VARIANTS_QUERY, {"first": self.STOCK_VARIANTS_PER_PAGE, "after": after, "query": query}
            )
            connection = data.get("productVariants") or {}
            for node in connection.get("nodes") or []:
                sku = node.get("sku") or ""
                if sku in wanted and node.get("inventoryItem"):  # the search is prefix/case-loose
                    found.setdefault(sku, []).append(node)
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return found
            after = page.get("endCursor")

    def _push_stock_batch(self, batch: Sequence[StockItem]) -> dict[str, StockPushResult]:
        results: dict[str, StockPushResult] = {}
        variants = self._variants_by_sku([item.sku for item in batch])
        location = self.stock_location_id()
        quantities: list[dict[str, Any]] = []
        owners: list[str] = []  # quantities[i] belongs to owners[i]
        for item in batch:
            nodes = variants.get(item.sku) or []
            if not nodes:
                results[item.sku] = StockPushResult(item.sku, False, "No variant with this SKU at Shopify")
                continue
            tracked = [n for n in nodes if (n.get("inventoryItem") or {}).get("tracked", True)]
            if not tracked:
                results[item.sku] = StockPushResult(item.sku, False, "Shopify doesn't track inventory for this SKU")
                continue
            for node in tracked:
                quantity = {"inventoryItemId": node["inventoryItem"]["id"], "locationId": location}
                quantity["quantity"] = max(0, int(item.available))
                if self.api_version >= self.STOCK_IDEMPOTENCY_FROM:
                    quantity["changeFromQuantity"] = None  # explicit: set regardless of the current value
                quantities.append(quantity)
                owners.append(item.sku)
        if not quantities:
            return results
        failed = self._set_quantities(quantities, owners)
        if failed is None:  # nothing was applied because some items were refused: resend the rest once
            failed = self._refused_items(quantities, owners, self._last_stock_errors)
            keep = [i for i, owner in enumerate(owners) if owner not in failed]
            if keep:
                again = self._set_quantities([quantities[i] for i in keep], [owners[i] for i in keep])
                if again is None:
                    again = self._refused_items(
                        [quantities[i] for i in keep], [owners[i] for i in keep], self._last_stock_errors
                    )
                    for owner in {owners[i] for i in keep}:
                        again.setdefault(owner, "Not applied: Shopify refused the batch")
                failed.update(again)
        for sku in dict.fromkeys(owners):
            quantity = next(q["quantity"] for q, owner in zip(quantities, owners, strict=True) if owner == sku)
            if sku in failed:
                results[sku] = StockPushResult(sku, False, failed[sku])
            else:
                results[sku] = StockPushResult(sku, True, f"available set to {quantity}")
        return results

    def _set_quantities(self, quantities: list[dict[str, Any]], owners: list[str]) -> dict[str, str] | None:
        """One inventorySetQuantities call. Returns the SKUs refused (empty: all applied), or
        None when Shopify applied nothing because of the refused ones (no adjustment group)."""
        stock_input: dict[str, Any] = {"name": "available", "reason": "correction", "quantities": quantities}
        stock_input["referenceDocumentUri"] = "gid://fenicia/InventorySync/stock-push"
        if self.api_version >= self.STOCK_IDEMPOTENCY_FROM:
            variables = {"input": stock_input, "idempotencyKey": str(uuid.uuid4())}
            data = self.graphql(self.STOCK_SET_MUTATION, variables)
        else:
            stock_input["ignoreCompareQuantity"] = True
            data = self.graphql(self.STOCK_SET_MUTATION_LEGACY, {"input": stock_input})
        payload = data.get("inventorySetQuantities") or {}
        errors = payload.get("userErrors") or []
        self._last_stock_errors = errors
        if errors and not payload.get("inventoryAdjustmentGroup"):
            return None
        return self._refused_items(quantities, owners, errors)

    @staticmethod
    def _refused_items(quantities: list[dict[str, Any]], owners: list[str], errors: list[dict]) -> dict[str, str]:
        """SKU -> message for each userError that points at a quantity (field input.quantities.N);
        an error about the input as a whole refuses every SKU of the call."""
        failed: dict[str, str] = {}
        for error in errors:
            path = [str(p) for p in error.get("field") or []]
            message = f"{error.get('code') or 'ERROR'}: {error.get('message') or 'refused'}"
            if len(path) >= 3 and path[1] == "quantities" and path[2].isdigit() and int(path[2]) < len(owners):
                failed.setdefault(owners[int(path[2])], message)
            else:
                for sku in owners:
                    failed.setdefault(sku, message)
        return failed
