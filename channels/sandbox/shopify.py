"""Shopify's Admin GraphQL API over the sandbox's orders: search syntax, cursors, the
leaky-bucket cost limit, and the operations Fenicia's adapter sends (reads, and the outbound
mutations `fulfillmentCreate`, `fulfillmentTrackingInfoUpdate` and `orderCancel`).

Everything here runs under the state's lock and touches no sockets; `server.py` does HTTP.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import total_ordering
from typing import TYPE_CHECKING, Any

from . import data
from .graphql import Context, GraphQLError, operation_name, parse, project, requested_cost

if TYPE_CHECKING:
    from .state import SandboxState, ShopState

MAX_QUERY_COST = 1000
SUPPORTED_OPERATIONS = frozenset(
    {"FeniciaListOrders", "FeniciaGetOrders", "FeniciaCountOrders", "FeniciaMoreLineItems"}
)
# The adapter's outbound operations: reads of fulfilment state, and the mutations.
OUTBOUND_OPERATIONS = frozenset(
    {
        "FeniciaFulfillmentState",
        "FeniciaMoreFulfillmentOrders",
        "FeniciaMoreFulfillmentOrderLines",
        "FeniciaOrderCancelState",
        "FeniciaFulfillmentCreate",
        "FeniciaFulfillmentTrackingUpdate",
        "FeniciaOrderCancel",
    }
)
MUTATION_COST = 10  # Shopify charges every mutation field 10 points, plus what its payload selects
CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
DEFAULT_COUNT_LIMIT = 10_000


class LeakyBucket:
    """Shopify's calculated-cost limit: a query needs its requested cost available up front,
    is charged its actual cost, and points flow back at `restore_rate` per second.
    Not locked itself: the state's lock guards it."""

    def __init__(self, maximum: float, restore_rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = float(maximum)
        self.restore_rate = float(restore_rate)
        self._clock = clock
        self._available = self.maximum
        self._at = clock()

    @property
    def available(self) -> float:
        now = self._clock()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now
        return self._available

    def take(self, points: float) -> bool:
        if self.available < points:
            return False
        self._available -= points
        return True

    def give(self, points: float) -> None:
        self._available = min(self.maximum, self.available + points)

    def configure(
        self, *, maximum: float | None = None, restore_rate: float | None = None, available: float | None = None
    ) -> None:
        self.available  # noqa: B018 - settle the refill at the old rate first
        if maximum is not None:
            self.maximum = float(maximum)
            self._available = min(self._available, self.maximum)
        if restore_rate is not None:
            self.restore_rate = float(restore_rate)
        if available is not None:
            self._available = max(0.0, min(float(available), self.maximum))

    def status(self) -> dict[str, Any]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available),
            "restoreRate": self.restore_rate,
        }


# -- search syntax ---------------------------------------------------------------------------
_SEARCH_TOKEN = re.compile(
    r"""\s*(?:
        (?P<paren>[()])
      | (?P<term>-?[A-Za-z_][A-Za-z0-9_.]*:(?:<=|>=|<|>|=)?(?:'[^']*'|"[^"]*"|[^\s()]+))
      | (?P<word>'[^']*'|"[^"]*"|[^\s()]+)
    )""",
    re.VERBOSE,
)
Predicate = Callable[[Mapping[str, Any]], bool]


def _parse_when(text: str) -> tuple[datetime, bool] | None:
    """(moment, whether only a date was given)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value, len(text) == 10


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("", "="):
        return bool(left == right)
    if left is None:
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _date_predicate(attribute: str, op: str, value: str) -> Predicate | None:
    parsed = _parse_when(value)
    if parsed is None:
        return None
    moment, date_only = parsed
    if not date_only:
        return lambda o: o[attribute] is not None and _compare(op, o[attribute], moment)
    next_day = moment + timedelta(days=1)
    bounds = {
        "": (moment, next_day),
        "=": (moment, next_day),
        ">=": (moment, None),
        ">": (next_day, None),
        "<": (None, moment),
        "<=": (None, next_day),
    }[op]

    def check(o: Mapping[str, Any]) -> bool:
        at = o[attribute]
        return at is not None and (bounds[0] is None or at >= bounds[0]) and (bounds[1] is None or at < bounds[1])

    return check


def _status(value: str) -> Predicate | None:
    return {
        "open": lambda o: o["closed_at"] is None and o["cancelled_at"] is None,
        "closed": lambda o: o["closed_at"] is not None,
        "cancelled": lambda o: o["cancelled_at"] is not None,
        "not_closed": lambda o: o["closed_at"] is None,
        "any": lambda o: True,
        "all": lambda o: True,
    }.get(value.lower())


def _fulfillment(value: str) -> Predicate | None:
    wanted = {
        "shipped": "fulfilled",
        "fulfilled": "fulfilled",
        "partial": "partial",
        "unshipped": None,
        "unfulfilled": None,
    }
    value = value.lower()
    if value == "any":
        return lambda o: True
    if value not in wanted:
        return None
    return lambda o: o["fulfillment_status"] == wanted[value]


def _term(field: str, op: str, value: str) -> Predicate | None:
    """One `field:value` filter; None when the sandbox does not know the field (Shopify then
    warns in `extensions.search` and ignores it)."""
    lowered = value.lower()
    if field in ("updated_at", "created_at", "processed_at"):
        return _date_predicate(field, op, value)
    if field == "id":
        return (lambda o: _compare(op, o["id"], int(value))) if value.isdigit() else None
    if field == "name":
        return lambda o: o["name"].lstrip("#") == value.lstrip("#")
    if field == "status":
        return _status(value)
    if field == "financial_status":
        return (lambda o: True) if lowered == "any" else (lambda o: o["financial_status"] == lowered)
    if field == "fulfillment_status":
        return _fulfillment(value)
    if field == "email":
        return lambda o: (o["email"] or "").lower() == lowered
    if field == "tag":
        return lambda o: lowered in (t.lower() for t in o["tags"])
    if field == "tag_not":
        return lambda o: lowered not in (t.lower() for t in o["tags"])
    if field == "test":
        return lambda o: o["test"] == (lowered == "true")
    if field == "sku":
        return lambda o: any((li["sku"] or "").lower() == lowered for li in o["line_items"])
    return None


def _free_text(value: str) -> Predicate:
    needle = value.lower()

    def check(o: Mapping[str, Any]) -> bool:
        customer = o["customer"] or {}
        haystack = " ".join(
            str(p)
            for p in (
                o["name"],
                o["email"],
                customer.get("first_name"),
                customer.get("last_name"),
                o["note"],
                *o["tags"],
            )
            if p
        )
        return needle in haystack.lower()

    return check


def compile_search(query: str | None) -> tuple[Predicate, list[dict[str, str]]]:
    """Shopify's search syntax (implicit AND, AND/OR/NOT, `-` negation, parentheses,
    `field:>=value` with quoted values) as a predicate over canonical orders, plus warnings."""
    warnings: list[dict[str, str]] = []
    tokens: list[tuple[str, str]] = []
    text = (query or "").strip()
    pos = 0
    while pos < len(text):
        match = _SEARCH_TOKEN.match(text, pos)
        if not match or match.end() == pos:
            break
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    index = 0

    def peek() -> tuple[str, str] | None:
        return tokens[index] if index < len(tokens) else None

    def parse_or() -> Predicate:
        nonlocal index
        parts = [parse_and()]
        while peek() == ("word", "OR"):
            index += 1
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else (lambda o: any(p(o) for p in parts))

    def parse_and() -> Predicate:
        nonlocal index
        parts = []
        while (token := peek()) is not None and token not in (("paren", ")"), ("word", "OR")):
            if token == ("word", "AND"):
                index += 1
                continue
            parts.append(parse_unary())
        return lambda o: all(p(o) for p in parts)

    def parse_unary() -> Predicate:
        nonlocal index
        kind, value = tokens[index]
        index += 1
        if (kind, value) == ("word", "NOT"):
            inner = parse_unary()
            return lambda o: not inner(o)
        if (kind, value) == ("paren", "("):
            inner = parse_or()
            if peek() == ("paren", ")"):
                index += 1
            return inner
        if kind == "paren":  # a stray ")"
            return lambda o: True
        negate = value.startswith("-") and len(value) > 1
        if negate:
            value = value[1:]
        if kind == "term":
            field, _, rest = value.partition(":")
            op = next((o for o in ("<=", ">=", "<", ">", "=") if rest.startswith(o)), "")
            raw = rest[len(op) :].strip("'\"")
            predicate = _term(field, op, raw)
            if predicate is None:
                warnings.append({"field": field, "message": "Invalid search field for this query."})
                return lambda o: True
        else:
            predicate = _free_text(value.strip("'\""))
        return (lambda o: not predicate(o)) if negate else predicate

    if not tokens:
        return (lambda o: True), warnings
    return parse_or(), warnings


# -- cursors ---------------------------------------------------------------------------------
def _cursor(payload: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _uncursor(cursor: str) -> dict[str, Any]:
    try:
        payload = json.loads(base64.b64decode(cursor.encode(), validate=True))
        if not isinstance(payload, dict) or "last_id" not in payload:
            raise ValueError
        return payload
    except (ValueError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor!r}", code="BAD_REQUEST") from exc


@total_ordering
class _Descending:
    """Inverts a sort key so `reverse: true` pages with the same "after = greater" rule."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    def __lt__(self, other: _Descending) -> bool:
        return bool(self.key > other.key)

    __hash__ = None  # type: ignore[assignment]


_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
SORT_KEYS: dict[str, str | None] = {
    "ID": None,
    "UPDATED_AT": "updated_at",
    "CREATED_AT": "created_at",
    "PROCESSED_AT": "processed_at",
    "ORDER_NUMBER": "number",
}


def _sort_value(order: Mapping[str, Any], attribute: str | None) -> Any:
    return order["id"] if attribute is None else order[attribute]


def _encode_value(value: Any) -> Any:
    return value.astimezone(UTC).strftime(_TIME_FORMAT) if isinstance(value, datetime) else value


def _decode_value(value: Any, attribute: str | None) -> Any:
    if attribute in ("updated_at", "created_at", "processed_at"):
        try:
            return datetime.strptime(str(value), _TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError as exc:
            raise GraphQLError("Invalid cursor for the current sort key", code="BAD_REQUEST") from exc
    return value


# -- operations ------------------------------------------------------------------------------
class _Query:
    """Resolvers for one request against one shop."""

    def __init__(self, shop: ShopState) -> None:
        self.shop = shop
        self.search: list[dict[str, Any]] = []

    def root(self) -> dict[str, Any]:
        shop = self.shop
        return {
            "__typename": "QueryRoot",
            "orders": self.orders,
            "ordersCount": self.orders_count,
            "nodes": self.nodes,
            "node": self.node,
            "order": self.order,
            "fulfillmentOrder": lambda args: self._lookup(args.get("id"), "FulfillmentOrder"),
            "fulfillment": lambda args: self._lookup(args.get("id"), "Fulfillment"),
            "shop": {
                "__typename": "Shop",
                "name": shop.domain.split(".")[0].title(),
                "myshopifyDomain": shop.domain,
                "currencyCode": shop.currency,
            },
        }

    def _matching(self, field: str, query: str | None) -> list[dict[str, Any]]:
        predicate, warnings = compile_search(query)
        if warnings:
            self.search.append({"path": [field], "query": query, "warnings": warnings})
        return [o for o in self.shop.orders.values() if predicate(o)]

    def node_for(self, order: Mapping[str, Any]) -> dict[str, Any]:
        def lines(o: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
            return data.line_item_connection(
                o,
                args,
                encode=lambda item: _cursor({"last_id": item["_key"]}),
                decode=lambda c: _uncursor(c)["last_id"],
            )

        node = data.graphql_order_node(order, line_connection=lines)
        node["fulfillmentOrders"] = lambda args: data.fulfillment_order_connection(order, args)
        return node

    def orders(self, args: Mapping[str, Any]) -> dict[str, Any]:
        sort_key = args.get("sortKey") or "ID"
        if sort_key not in SORT_KEYS:
            raise GraphQLError(
                f"Argument 'sortKey' on Field 'orders' has an invalid value ({sort_key}). "
                f"Expected type 'OrderSortKeys'.",
                code="argumentLiteralsIncompatible",
            )
        attribute = SORT_KEYS[sort_key]
        reverse = bool(args.get("reverse"))
        wrap: Callable[[Any], Any] = _Descending if reverse else (lambda k: k)
        matched = sorted(
            self._matching("orders", args.get("query")),
            key=lambda o: (_sort_value(o, attribute), o["id"]),
            reverse=reverse,
        )
        keyed = [(wrap((_sort_value(o, attribute), o["id"])), (lambda o=o: self.node_for(o))) for o in matched]

        def encode(item: Mapping[str, Any]) -> str:
            key = item["_key"].key if reverse else item["_key"]
            return _cursor({"last_id": key[1], "last_value": _encode_value(key[0])})

        def decode(cursor: str) -> Any:
            payload = _uncursor(cursor)
            return wrap((_decode_value(payload.get("last_value"), attribute), payload["last_id"]))

        return data.order_connection(keyed, args, encode=encode, decode=decode)

    def orders_count(self, args: Mapping[str, Any]) -> dict[str, Any]:
        count = len(self._matching("ordersCount", args.get("query")))
        limit = args.get("limit", DEFAULT_COUNT_LIMIT)
        if isinstance(limit, int) and count > limit:
            return {"__typename": "Count", "count": limit, "precision": "AT_LEAST"}
        return {"__typename": "Count", "count": count, "precision": "EXACT"}

    def _lookup(self, global_id: Any, kind: str | None = None) -> dict[str, Any] | None:
        """The node a global id names (Order, FulfillmentOrder or Fulfillment); None when unknown
        or (with `kind`) of another type."""
        match = re.fullmatch(r"gid://shopify/(\w+)/(\d+)", str(global_id or ""))
        if not match:
            raise GraphQLError(f"Invalid global id '{global_id}'", code="argumentLiteralsIncompatible")
        typename, number = match.group(1), int(match.group(2))
        if kind is not None and typename != kind:
            return None
        if typename == "Order":
            order = self.shop.orders.get(number)
            return self.node_for(order) if order else None
        if typename == "FulfillmentOrder":
            order = self.shop.orders.get(data.order_id_of_fulfillment_order(number))
            fo = next((fo for fo in data.fulfillment_orders(order) if fo["id"] == number), None) if order else None
            return data.graphql_fulfillment_order_node(order, fo) if order and fo else None
        if typename == "Fulfillment":
            for order in self.shop.orders.values():
                if any(f["id"] == number for f in order["fulfillments"]):
                    return data.graphql_fulfillment_node(order, number)
        return None

    def nodes(self, args: Mapping[str, Any]) -> list[dict[str, Any] | None]:
        ids = args.get("ids") or []
        if len(ids) > 250:
            raise GraphQLError("The ids argument accepts at most 250 ids", code="MAX_INPUT_SIZE_EXCEEDED")
        return [self._lookup(i) for i in ids]

    def node(self, args: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._lookup(args.get("id"))

    def order(self, args: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._lookup(args.get("id"), "Order")


def _gid_number(value: Any, kind: str) -> int | None:
    match = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", str(value or ""))
    return int(match.group(1)) if match else None


def _as_list(value: Any) -> list[Any]:
    """GraphQL input coercion: a single value where a list is expected is a list of one."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _required(field: str, args: Mapping[str, Any], *names: str) -> None:
    missing = [n for n in names if args.get(n) is None]
    if missing:
        raise GraphQLError(
            f"Field '{field}' is missing required arguments: {', '.join(missing)}",
            code="missingRequiredArguments",
            arguments=", ".join(missing),
        )


class _Mutation:
    """Resolvers for the outbound mutations. The work is done by the state's own methods (which
    also serve tests and the demo directly); this layer speaks GraphQL: global ids, input
    objects, `userErrors` in the payload. Every call is recorded in `state.mutation_log`."""

    def __init__(self, shop: ShopState, state: SandboxState, operation: str | None) -> None:
        self.shop = shop
        self.state = state
        self.operation = operation
        self.search: list[dict[str, Any]] = []

    def root(self) -> dict[str, Any]:
        return {
            "__typename": "Mutation",
            "fulfillmentCreate": self.fulfillment_create,
            "fulfillmentTrackingInfoUpdate": self.fulfillment_tracking_info_update,
            "orderCancel": self.order_cancel,
        }

    def _record(self, mutation: str, args: Mapping[str, Any], errors: list[dict[str, Any]], **ids: Any) -> None:
        self.state.record_mutation(
            {
                "shop": self.shop.domain,
                "operation": self.operation,
                "mutation": mutation,
                "ok": not errors,
                "user_errors": [e["message"] for e in errors],
                "variables": json.loads(json.dumps(dict(args), default=str)),
                **ids,
            }
        )

    @staticmethod
    def _user_error(field: list[str] | None, message: str, code: str | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {"__typename": "UserError", "field": field, "message": message}
        if code is not None:
            error.update(__typename="OrderCancelUserError", code=code)
        return error

    def fulfillment_create(self, args: Mapping[str, Any]) -> dict[str, Any]:
        from .state import UserError  # the state imports this module

        _required("fulfillmentCreate", args, "fulfillment")
        spec = args["fulfillment"]
        order_ids: list[int] = []
        items: dict[int, int] = {}
        errors: list[dict[str, Any]] = []
        groups = _as_list(spec.get("lineItemsByFulfillmentOrder"))
        if not groups:
            errors.append(
                self._user_error(["fulfillment", "lineItemsByFulfillmentOrder"], "Fulfillment order is required.")
            )
        for i, group in enumerate(groups):
            path = ["fulfillment", "lineItemsByFulfillmentOrder", str(i)]
            fo_id = _gid_number(group.get("fulfillmentOrderId"), "FulfillmentOrder")
            order = self.shop.orders.get(data.order_id_of_fulfillment_order(fo_id)) if fo_id else None
            fo = next((f for f in data.fulfillment_orders(order) if f["id"] == fo_id), None) if order else None
            if order is None or fo is None:
                errors.append(self._user_error([*path, "fulfillmentOrderId"], "Fulfillment order does not exist."))
                continue
            order_ids.append(order["id"])
            by_id = {fl["id"]: fl for fl in fo["line_items"]}
            if group.get("fulfillmentOrderLineItems") is None:  # the whole fulfilment order
                for fl in fo["line_items"]:
                    if fl["remaining_quantity"]:
                        items[fl["line_item_id"]] = items.get(fl["line_item_id"], 0) + fl["remaining_quantity"]
                continue
            for j, line in enumerate(_as_list(group.get("fulfillmentOrderLineItems"))):
                fl = by_id.get(_gid_number(line.get("id"), "FulfillmentOrderLineItem") or -1)
                quantity = line.get("quantity")
                if fl is None:
                    errors.append(
                        self._user_error(
                            [*path, "fulfillmentOrderLineItems", str(j), "id"],
                            f"Invalid fulfillment order line item id: {line.get('id')}.",
                        )
                    )
                elif not isinstance(quantity, int) or quantity < 1:
                    errors.append(
                        self._user_error(
                            [*path, "fulfillmentOrderLineItems", str(j), "quantity"],
                            "Invalid fulfillment order line item quantity requested.",
                        )
                    )
                else:
                    items[fl["line_item_id"]] = items.get(fl["line_item_id"], 0) + quantity
        if len(set(order_ids)) > 1:
            errors.append(
                self._user_error(
                    ["fulfillment", "lineItemsByFulfillmentOrder"],
                    "All fulfillment orders must belong to the same order.",
                )
            )
        fulfillment = None
        if not errors and order_ids:
            tracking = spec.get("trackingInfo") or {}
            try:
                created = self.state.fulfill(
                    self.shop.domain,
                    order_ids[0],
                    items,
                    tracking_company=tracking.get("company"),
                    tracking_number=tracking.get("number") or next(iter(_as_list(tracking.get("numbers"))), None),
                    tracking_url=tracking.get("url") or next(iter(_as_list(tracking.get("urls"))), None),
                    notify_customer=bool(spec.get("notifyCustomer")),
                )
            except UserError as exc:
                errors.append(self._user_error(exc.field, exc.message))
            else:
                fulfillment = data.graphql_fulfillment_node(self.shop.orders[order_ids[0]], created["id"])
        self._record(
            "fulfillmentCreate",
            args,
            errors,
            order_id=order_ids[0] if order_ids else None,
            fulfillment_id=int(fulfillment["legacyResourceId"]) if fulfillment else None,
        )
        return {"__typename": "FulfillmentCreatePayload", "fulfillment": fulfillment, "userErrors": errors}

    def fulfillment_tracking_info_update(self, args: Mapping[str, Any]) -> dict[str, Any]:
        from .state import UserError

        _required("fulfillmentTrackingInfoUpdate", args, "fulfillmentId", "trackingInfoInput")
        info = args["trackingInfoInput"]
        fulfillment_id = _gid_number(args["fulfillmentId"], "Fulfillment")
        errors: list[dict[str, Any]] = []
        fulfillment = None
        order_id = None
        try:
            if fulfillment_id is None:
                raise UserError("Fulfillment does not exist.", field=["fulfillmentId"])
            self.state.update_tracking(
                self.shop.domain,
                fulfillment_id,
                company=info.get("company"),
                number=info.get("number") or next(iter(_as_list(info.get("numbers"))), None),
                url=info.get("url") or next(iter(_as_list(info.get("urls"))), None),
                notify_customer=bool(args.get("notifyCustomer")),
            )
        except UserError as exc:
            errors.append(self._user_error(exc.field, exc.message))
        else:
            order = next(
                o for o in self.shop.orders.values() if any(f["id"] == fulfillment_id for f in o["fulfillments"])
            )
            order_id = order["id"]
            fulfillment = data.graphql_fulfillment_node(order, fulfillment_id)
        self._record("fulfillmentTrackingInfoUpdate", args, errors, order_id=order_id, fulfillment_id=fulfillment_id)
        return {"__typename": "FulfillmentTrackingInfoUpdatePayload", "fulfillment": fulfillment, "userErrors": errors}

    def order_cancel(self, args: Mapping[str, Any]) -> dict[str, Any]:
        from .state import UserError

        _required("orderCancel", args, "orderId", "reason", "restock")
        reason = str(args["reason"])
        if reason not in CANCEL_REASONS:
            raise GraphQLError(
                f"Argument 'reason' on Field 'orderCancel' has an invalid value ({reason}). "
                "Expected type 'OrderCancelReason!'.",
                code="argumentLiteralsIncompatible",
            )
        order_id = _gid_number(args["orderId"], "Order")
        errors: list[dict[str, Any]] = []
        refund_method = args.get("refundMethod")
        if refund_method is not None and args.get("refund") is not None:
            errors.append(
                self._user_error(["refundMethod"], "Only one of refund or refundMethod can be provided.", "INVALID")
            )
        refund = (
            bool(refund_method.get("originalPaymentMethodsRefund") or refund_method.get("storeCreditRefund"))
            if refund_method is not None
            else bool(args.get("refund"))
        )
        if order_id is None or order_id not in self.shop.orders:
            errors.append(self._user_error(["orderId"], "Order does not exist.", "NOT_FOUND"))
        if not errors:
            try:
                self.state.cancel(
                    self.shop.domain,
                    order_id,  # type: ignore[arg-type]
                    reason=reason.lower(),
                    restock=bool(args["restock"]),
                    refund=refund,
                    staff_note=args.get("staffNote") or "",
                    notify_customer=bool(args.get("notifyCustomer")),
                )
            except UserError as exc:
                errors.append(self._user_error(exc.field, exc.message, exc.code or "INVALID"))
        self._record("orderCancel", args, errors, order_id=order_id)
        job = None if errors else {"__typename": "Job", "id": data.gid("Job", uuid.uuid4().int % 10**12), "done": True}
        return {
            "__typename": "OrderCancelPayload",
            "job": job,
            "orderCancelUserErrors": errors,
            "userErrors": [{**e, "__typename": "UserError"} for e in errors],
        }


def _errors(errors: Iterable[GraphQLError], cost: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"errors": [e.as_dict() for e in errors]}
    if cost is not None:
        body["extensions"] = {"cost": cost}
    return body


def execute(
    shop: ShopState, query: Any, variables: Any, op_name: Any = None, *, state: SandboxState | None = None
) -> dict[str, Any]:
    """The JSON body (always HTTP 200) of a GraphQL request already authenticated for `shop`.
    Mutations need the `state` whose methods carry them out (and hold its lock)."""
    bucket = shop.bucket

    def cost(requested: int, actual: int | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}

    if not isinstance(query, str) or not query.strip():
        return _errors([GraphQLError("No query string was present", code="BAD_REQUEST")], cost(0, 0))
    name = op_name if isinstance(op_name, str) and op_name else operation_name(query)
    if name not in SUPPORTED_OPERATIONS and name not in OUTBOUND_OPERATIONS:
        return _errors(
            [
                GraphQLError(
                    f"The sandbox does not implement operation {name or '(anonymous)'}; it answers "
                    f"{', '.join(sorted(SUPPORTED_OPERATIONS | OUTBOUND_OPERATIONS))}",
                    code="UNSUPPORTED_OPERATION",
                )
            ],
            cost(0, 0),
        )
    try:
        document = parse(query)
        context = Context(document, document.operation(name), variables if isinstance(variables, dict) else {})
        kind = context.operation.kind
        if kind not in ("query", "mutation") or (kind == "mutation" and state is None):
            raise GraphQLError(f"The sandbox does not answer {kind}s here", code="UNSUPPORTED_OPERATION")
        requested = requested_cost(context, context.operation.selections)
        mutation_fields = len(context.fields(context.operation.selections)) if kind == "mutation" else 0
        requested += (MUTATION_COST - 1) * mutation_fields
    except GraphQLError as exc:
        return _errors([exc], cost(0, 0))
    if requested > MAX_QUERY_COST:
        return _errors(
            [
                GraphQLError(
                    f"Query cost is {requested}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
                    f"See {RATE_LIMIT_DOCS} for more information on how the cost of a query is calculated.\n\n"
                    "To query larger amounts of data with fewer limits, bulk operations should be used instead.",
                    code="MAX_COST_EXCEEDED",
                    cost=requested,
                    maxCost=MAX_QUERY_COST,
                )
            ],
            cost(requested, None),
        )
    if not bucket.take(requested):
        return _errors(
            [GraphQLError("Throttled", code="THROTTLED", documentation=RATE_LIMIT_DOCS)], cost(requested, None)
        )
    resolver = _Query(shop) if kind == "query" else _Mutation(shop, state, name)  # type: ignore[arg-type]
    try:
        result, actual = project(context, resolver.root(), context.operation.selections)
    except GraphQLError as exc:
        bucket.give(requested)
        return _errors([exc], cost(requested, 0))
    actual += (MUTATION_COST - 1) * mutation_fields
    bucket.give(requested - actual)
    extensions: dict[str, Any] = {"cost": cost(requested, actual)}
    if resolver.search:
        extensions["search"] = resolver.search
    return {"data": result, "extensions": extensions}


def estimated_cost(query: Any, variables: Any, op_name: Any = None) -> int:
    """The requested cost of a query, 0 when it can't be worked out (for injected faults)."""
    try:
        document = parse(query)
        context = Context(
            document,
            document.operation(op_name or operation_name(query)),
            variables if isinstance(variables, dict) else {},
        )
        return requested_cost(context, context.operation.selections)
    except (GraphQLError, TypeError):
        return 0


def throttled_body(shop: ShopState, requested: int = 0) -> dict[str, Any]:
    """What an injected THROTTLED fault answers: the bucket shown empty."""
    status = shop.bucket.status()
    status["currentlyAvailable"] = 0
    return _errors(
        [GraphQLError("Throttled", code="THROTTLED", documentation=RATE_LIMIT_DOCS)],
        {"requestedQueryCost": requested, "actualQueryCost": None, "throttleStatus": status},
    )
