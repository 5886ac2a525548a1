"""Everything the sandbox knows, behind one lock: shops, tokens, orders, webhook subscriptions,
queued faults and the log of API calls.

Orders live in the canonical form of `data.py`. Webhooks are captured (body and ids fixed)
under the lock and posted outside it, so a slow receiver never blocks the API.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import random
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from . import data
from . import inventory as stock
from .shopify import INVALID_TOKEN, LeakyBucket, execute

DEFAULT_API_VERSION = "2026-10"
DEFAULT_SCOPE = "read_orders,write_orders,read_fulfillments,write_fulfillments"
DEFAULT_TOPICS = frozenset({"orders/create", "orders/updated"})
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/paid",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/edited",
        "orders/delete",
    }
)
ACCESS_TOKEN_TTL = 3600
REFRESH_TOKEN_TTL = 90 * 86400
MAX_LOG = 20_000


class SandboxError(Exception):
    """A call the sandbox can't honour; control endpoints answer it with 4xx."""

    status = 400


class UnknownShop(SandboxError, LookupError):
    status = 404


class UnknownOrder(SandboxError, LookupError):
    status = 404


class InvalidChange(SandboxError, ValueError):
    pass


class UserError(InvalidChange):
    """A change Shopify's API refuses with a `userErrors` entry rather than an HTTP error:
    `field` is the path of the offending input, `code` the error code when the payload has one."""

    def __init__(self, message: str, *, field: Sequence[str] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = list(field) if field else None
        self.code = code


@dataclass
class Subscription:
    url: str
    secret: str
    topics: frozenset[str]


@dataclass
class ShopState:
    domain: str
    webhook_secret: str
    bucket: LeakyBucket
    currency: str = "USD"
    utc_offset: timedelta = timedelta(hours=-3)
    api_version: str = DEFAULT_API_VERSION
    scope: str = DEFAULT_SCOPE
    client_id: str = ""
    client_secret: str = ""
    access_tokens: dict[str, datetime | None] = field(default_factory=dict)  # token -> expiry (None: never)
    refresh_tokens: dict[str, datetime] = field(default_factory=dict)  # the one valid token -> expiry
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    customers: list[dict[str, Any]] = field(default_factory=list)
    next_number: int = 1001
    subscriptions: list[Subscription] = field(default_factory=list)


# -- faults ----------------------------------------------------------------------------------
STATUS_BODIES = {
    400: "Bad Request",
    401: INVALID_TOKEN,
    402: "Unavailable Shop",
    403: "[API] This action requires merchant approval for read_orders scope.",
    404: "Not Found",
    423: "Locked",
    429: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
FAULT_KINDS = ("status", "slow", "timeout", "drop", "throttle", "drop_after_processing")


@dataclass
class Fault:
    """A misbehaviour for the next `remaining` API calls matching `path_contains`/`operation`."""

    kind: str
    remaining: int
    status: int | None = None
    retry_after: float | str | None = None
    seconds: float = 0.0
    path_contains: str | None = None
    operation: str | None = None

    def matches(self, path: str, operation: str | None) -> bool:
        return (self.path_contains is None or self.path_contains in path) and (
            self.operation is None or self.operation == operation
        )

    @property
    def body(self) -> dict[str, Any]:
        return {"errors": STATUS_BODIES.get(self.status or 500, f"HTTP {self.status}")}

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Faults:
    """Queued faults, applied in order to API calls (never to `/_sandbox/` control calls)."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._queue: list[Fault] = []

    def _add(self, fault: Fault) -> Fault:
        if fault.remaining < 1:
            raise InvalidChange("A fault needs count >= 1")
        with self._lock:
            self._queue.append(fault)
        return fault

    def inject(
        self,
        status: int,
        count: int = 1,
        *,
        retry_after: float | str | None = None,
        path_contains: str | None = None,
        operation: str | None = None,
    ) -> Fault:
        """Answer the next `count` calls with `status` and Shopify's error body for it
        (429 carries `Retry-After` when `retry_after` is given)."""
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise InvalidChange(f"Not an error status: {status!r}")
        return self._add(
            Fault(
                "status",
                int(count),
                status=status,
                retry_after=retry_after,
                path_contains=path_contains,
                operation=operation,
            )
        )

    def slow(
        self, seconds: float, count: int = 1, *, path_contains: str | None = None, operation: str | None = None
    ) -> Fault:
        """Answer the next `count` calls normally, `seconds` late."""
        return self._add(
            Fault("slow", int(count), seconds=float(seconds), path_contains=path_contains, operation=operation)
        )

    def timeout(
        self, count: int = 1, *, seconds: float = 5.0, path_contains: str | None = None, operation: str | None = None
    ) -> Fault:
        """Read the request, say nothing for `seconds`, then close the connection."""
        return self._add(
            Fault("timeout", int(count), seconds=float(seconds), path_contains=path_contains, operation=operation)
        )

    def drop(self, count: int = 1, *, path_contains: str | None = None, operation: str | None = None) -> Fault:
        """Read the request and close the connection without a response."""
        return self._add(Fault("drop", int(count), path_contains=path_contains, operation=operation))

    def drop_after_processing(
        self, count: int = 1, *, path_contains: str | None = None, operation: str | None = None
    ) -> Fault:
        """Accept-then-drop: carry the call out (a mutation takes effect) and close the connection
        instead of answering, so the client can't tell whether it happened."""
        return self._add(Fault("drop_after_processing", int(count), path_contains=path_contains, operation=operation))

    def throttle(self, count: int = 1, *, operation: str | None = None) -> Fault:
        """Answer GraphQL calls with HTTP 200 `THROTTLED`, whatever the bucket holds."""
        return self._add(Fault("throttle", int(count), path_contains="graphql.json", operation=operation))

    def add(self, spec: Mapping[str, Any]) -> Fault:
        """A fault from its JSON description, e.g. {"status": 503, "count": 2} or
        {"kind": "slow", "seconds": 1.5}."""
        spec = dict(spec)
        kind = spec.pop("kind", "status" if "status" in spec else None)
        count = int(spec.pop("count", 1))
        filters = {k: spec.pop(k) for k in ("path_contains", "operation") if spec.get(k) is not None}
        try:
            if kind == "status":
                return self.inject(int(spec.pop("status")), count, retry_after=spec.pop("retry_after", None), **filters)
            if kind == "slow":
                return self.slow(float(spec.pop("seconds")), count, **filters)
            if kind == "timeout":
                return self.timeout(count, seconds=float(spec.pop("seconds", 5.0)), **filters)
            if kind == "drop":
                return self.drop(count, **filters)
            if kind in ("drop_after_processing", "drop_after"):
                return self.drop_after_processing(count, **filters)
            if kind == "throttle":
                return self.throttle(count, operation=filters.get("operation"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidChange(f"Bad fault description: {exc}") from exc
        raise InvalidChange(f"Unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")

    def take(self, path: str, operation: str | None) -> Fault | None:
        """Consume one use of the first queued fault matching this call."""
        with self._lock:
            for fault in self._queue:
                if fault.matches(path, operation):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._queue.remove(fault)
                    return copy.copy(fault)
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._queue]

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)


# -- webhooks --------------------------------------------------------------------------------
@dataclass
class WebhookEvent:
    """One captured webhook: the body is frozen when captured, so re-sending it later (a
    duplicate, or an out-of-order older version) sends exactly the same bytes and ids."""

    shop: str
    topic: str
    order_id: int
    body: bytes
    api_version: str
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    triggered_at: str = ""
    webhook_ids: dict[str, str] = field(default_factory=dict)  # subscription url -> X-Shopify-Webhook-Id

    def headers(self, url: str, secret: str) -> dict[str, str]:
        digest = hmac.new(secret.encode(), self.body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.shop,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": self.webhook_ids.setdefault(url, str(uuid.uuid4())),
            "X-Shopify-Event-Id": self.event_id,
            "X-Shopify-Triggered-At": self.triggered_at,
        }


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int | None, str]:
    """POST and return (status, error); status None when nothing answered. http.client rather
    than urllib: it keeps header names as Shopify spells them and never consults proxies."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
        try:
            connection.request("POST", path, body=body, headers=dict(headers))
            response = connection.getresponse()
            response.read()
            return response.status, ""
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return None, f"{exc.__class__.__name__}: {exc}"


# -- the state -------------------------------------------------------------------------------
ORDER_OVERRIDES = frozenset(
    {
        "email",
        "phone",
        "note",
        "tags",
        "test",
        "currency",
        "financial_status",
        "fulfillment_status",
        "cancel",
        "cancel_reason",
        "created_at",
        "updated_at",
        "processed_at",
        "customer",
        "shipping_address",
        "billing_address",
        "source_name",
        "discount",
        "shipping_price",
        "tax_rate",
        "shipment_status",
    }
)
ORDER_CHANGES = frozenset(
    {
        "financial_status",
        "fulfillment_status",
        "add_fulfillment",
        "shipment_status",
        "delivered",
        "cancel",
        "cancel_reason",
        "note",
        "tags",
        "email",
        "phone",
        "shipping_address",
        "updated_at",
        "current_quantities",
    }
)


def _when(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidChange(f"Not a timestamp: {value!r}") from exc
    if not isinstance(value, datetime):
        raise InvalidChange(f"Not a timestamp: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def _tags(value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return sorted({str(t).strip() for t in items if str(t).strip()})


class SandboxState:
    """Thread-safe: every public method takes `lock` (re-entrant) for the data it touches.

    `clock` returns the current UTC datetime (time-machine friendly); `bucket_size` and
    `restore_rate` set each new shop's cost bucket. With `auto_webhooks` on, creating, updating
    and deleting orders notifies the shop's subscribers unless a call says `notify=False`; off
    (the default, so tests decide exactly what is sent), only `notify=True` calls, the
    generator and the explicit `send_*` methods do.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        bucket_size: float = 100_000.0,
        restore_rate: float = 10_000.0,
        auto_webhooks: bool = False,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.rng = random.Random(seed)
        self.factory = data.OrderFactory(self.rng)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.auto_webhooks = auto_webhooks
        self.webhook_timeout = webhook_timeout
        self.shops: dict[str, ShopState] = {}
        self.faults = Faults(self.lock)
        self.requests: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()
        # Every mutation the API was sent (accepted or refused with userErrors), oldest first.
        self.mutation_log: list[dict[str, Any]] = []
        # While a GraphQL request runs under the lock, the webhooks it causes wait here and are
        # sent once the lock is released (a receiver calling the API back must not deadlock).
        self._defer_thread: int | None = None
        self._deferred: list[WebhookEvent] = []

    # -- shops and tokens ----------------------------------------------------------------
    def add_shop(
        self,
        shop: str,
        *,
        token: str | Iterable[str] = "shpat_sandbox",  # noqa: S107 - demo token
        webhook_secret: str = "",
        client_id: str = "",
        client_secret: str = "",
        refresh_token: str | None = None,
        currency: str = "USD",
        utc_offset: str | timedelta = "-03:00",
        api_version: str = DEFAULT_API_VERSION,
        scope: str = DEFAULT_SCOPE,
    ) -> ShopState:
        """Register a shop. `token` is one or more static access tokens (never expire);
        `refresh_token` enables the expiring-token flow for `client_id`/`client_secret`."""
        tokens = [token] if isinstance(token, str) else list(token)
        if isinstance(utc_offset, str):
            sign = -1 if utc_offset.startswith("-") else 1
            hours, _, minutes = utc_offset.lstrip("+-").partition(":")
            utc_offset = sign * timedelta(hours=int(hours), minutes=int(minutes or 0))
        with self.lock:
            for other in self.shops.values():
                if other.domain != shop and set(tokens) & set(other.access_tokens):
                    raise InvalidChange("Access tokens must be unique across shops (they identify the shop)")
            state = ShopState(
                domain=shop,
                webhook_secret=webhook_secret,
                bucket=LeakyBucket(self.bucket_size, self.restore_rate),
                currency=currency,
                utc_offset=utc_offset,
                api_version=api_version,
                scope=scope,
                client_id=client_id,
                client_secret=client_secret,
                access_tokens=dict.fromkeys(tokens),
            )
            if refresh_token:
                state.refresh_tokens[refresh_token] = self.clock() + timedelta(seconds=REFRESH_TOKEN_TTL)
            if shop in self.shops:  # re-adding keeps the orders, replaces the credentials
                old = self.shops[shop]
                state.orders, state.customers, state.next_number = old.orders, old.customers, old.next_number
                state.subscriptions = old.subscriptions
            self.shops[shop] = state
            return state

    def shop(self, shop: str) -> ShopState:
        with self.lock:
            try:
                return self.shops[shop]
            except KeyError:
                raise UnknownShop(f"No sandbox shop {shop!r}") from None

    def authenticate(self, token: str | None) -> ShopState | None:
        """The shop an access token belongs to, or None (unknown, revoked or expired)."""
        if not token:
            return None
        with self.lock:
            now = self.clock()
            for state in self.shops.values():
                if token in state.access_tokens:
                    expires = state.access_tokens[token]
                    return state if expires is None or expires > now else None
        return None

    def revoke_token(self, shop: str, token: str | None = None) -> int:
        """Invalidate one access token, or all of the shop's (an uninstalled app). Returns how many."""
        with self.lock:
            state = self.shop(shop)
            doomed = [token] if token else list(state.access_tokens)
            return sum(state.access_tokens.pop(t, False) is not False for t in doomed)

    def refresh_access_token(self, params: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """`POST /admin/oauth/access_token` with grant_type=refresh_token: rotate the pair."""
        if params.get("grant_type") != "refresh_token":
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "The sandbox supports grant_type=refresh_token",
            }
        with self.lock:
            candidates = [s for s in self.shops.values() if s.client_id and s.client_id == params.get("client_id")]
            if not candidates or not any(
                hmac.compare_digest(s.client_secret, str(params.get("client_secret", ""))) for s in candidates
            ):
                return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
            refresh_token = str(params.get("refresh_token") or "")
            now = self.clock()
            for state in candidates:
                expires = state.refresh_tokens.get(refresh_token)
                if expires is None:
                    continue
                del state.refresh_tokens[refresh_token]  # rotation: a refresh token works once
                if expires <= now:
                    break
                access_token = f"shpat_{secrets.token_hex(16)}"
                new_refresh = f"shprt_{secrets.token_hex(16)}"
                state.access_tokens[access_token] = now + timedelta(seconds=ACCESS_TOKEN_TTL)
                state.refresh_tokens[new_refresh] = now + timedelta(seconds=REFRESH_TOKEN_TTL)
                return 200, {
                    "access_token": access_token,
                    "expires_in": ACCESS_TOKEN_TTL,
                    "refresh_token": new_refresh,
                    "refresh_token_expires_in": REFRESH_TOKEN_TTL,
                    "scope": state.scope,
                }
        return 400, {"error": "invalid_grant", "error_description": "The refresh token is invalid or has expired."}

    def set_throttle(
        self,
        shop: str,
        *,
        maximum: float | None = None,
        restore_rate: float | None = None,
        available: float | None = None,
    ) -> dict[str, Any]:
        """Reshape a shop's cost bucket (e.g. a tiny one to provoke THROTTLED)."""
        with self.lock:
            bucket = self.shop(shop).bucket
            bucket.configure(maximum=maximum, restore_rate=restore_rate, available=available)
            return bucket.status()

    def graphql(self, shop: ShopState, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            outer = self._defer_thread is None
            if outer:
                self._defer_thread, self._deferred = threading.get_ident(), []
            try:
                # Stock operations (channels/sandbox/inventory.py) first; orders otherwise.
                result = stock.answer(self, shop, body) or execute(
                    shop, body.get("query"), body.get("variables"), body.get("operationName"), state=self
                )
            finally:
                deferred: list[WebhookEvent] = []
                if outer:
                    deferred, self._defer_thread, self._deferred = self._deferred, None, []
        self._deliver_all(deferred)
        return result

    # -- orders --------------------------------------------------------------------------
    def _now(self) -> datetime:
        return data.now_seconds(self.clock())

    def _order(self, shop: str, order_id: int | str) -> dict[str, Any]:
        state = self.shop(shop)
        try:
            return state.orders[int(order_id)]
        except (KeyError, ValueError):
            raise UnknownOrder(f"Shop {shop} has no order {order_id}") from None

    def create_orders(
        self,
        shop: str,
        n: int = 1,
        *,
        lines: int | Sequence[Mapping[str, Any]] | None = None,
        spread_days: float = 0,
        notify: bool | None = None,
        **overrides: Any,
    ) -> list[dict[str, Any]]:
        """Make `n` random orders (deterministic for a seed) and return copies of them.

        `lines`: how many line items (e.g. 45 to need the follow-up line query) or explicit
        [{"sku", "quantity", "price", "title", "variant_title"}]. `spread_days` back-dates creation
        randomly over that many days (default: now). `overrides` set fields: email, phone, note,
        tags, test, currency, financial_status, fulfillment_status (None/"partial"/"fulfilled"),
        shipment_status, cancel (True or a reason), created_at, updated_at, processed_at, customer,
        shipping_address, billing_address, source_name, discount, shipping_price, tax_rate.
        """
        unknown = set(overrides) - ORDER_OVERRIDES
        if unknown:
            raise InvalidChange(f"Unknown order fields: {', '.join(sorted(unknown))}")
        events: list[WebhookEvent] = []
        created: list[dict[str, Any]] = []
        with self.lock:
            state = self.shop(shop)
            for _ in range(n):
                order = self.factory.order(
                    number=state.next_number,
                    now=self._now(),
                    customers=state.customers,
                    currency=overrides.get("currency") or state.currency,
                    line_count=lines if isinstance(lines, int) else None,
                    lines=None if lines is None or isinstance(lines, int) else lines,
                    spread_days=spread_days,
                )
                self._apply_overrides(order, overrides)
                state.next_number += 1
                state.orders[order["id"]] = order
                if order["customer"] and all(c["id"] != order["customer"]["id"] for c in state.customers):
                    state.customers.append(dict(order["customer"]))
                created.append(copy.deepcopy(order))
                events += self._events(state, order, ["orders/create"], notify)
        self._deliver_all(events)
        return created

    def _apply_overrides(self, order: dict[str, Any], overrides: Mapping[str, Any]) -> None:
        o = dict(overrides)
        for key in ("created_at", "updated_at", "processed_at"):
            if key in o:
                o[key] = _when(o[key])
        if "created_at" in o:
            order["created_at"] = order["processed_at"] = o["created_at"]
            order["updated_at"] = max(o["created_at"], o.get("updated_at", o["created_at"]))
        if "updated_at" in o:
            order["updated_at"] = o["updated_at"]
            if order["created_at"] > o["updated_at"]:
                order["created_at"] = order["processed_at"] = o["updated_at"]
        if "processed_at" in o:
            order["processed_at"] = o["processed_at"]
        for key in ("email", "phone", "note", "test", "source_name"):
            if key in o:
                order[key] = o[key]
        if "currency" in o:
            order["currency"] = o["currency"]
        if "tags" in o:
            order["tags"] = _tags(o["tags"])
        for key in ("discount", "shipping_price", "tax_rate"):
            if key in o:
                order[key] = Decimal(str(o[key]))
        for key in ("customer", "shipping_address", "billing_address"):
            if key in o:
                order[key] = {**(order[key] or {}), **o[key]} if o[key] else None
        if "financial_status" in o:
            self._set_financial(order, o["financial_status"])
        when = order["updated_at"]
        if "fulfillment_status" in o:
            order["fulfillments"] = []
            self._set_fulfillment(order, o["fulfillment_status"], when, o.get("shipment_status"))
        elif "shipment_status" in o:
            self._set_shipment_status(order, o["shipment_status"], when)
        if o.get("cancel"):
            self._cancel(order, o["cancel"] if isinstance(o["cancel"], str) else o.get("cancel_reason"), when)
        data.refresh_derived(order)
        self._close_if_done(order, when)

    @staticmethod
    def _set_financial(order: dict[str, Any], value: Any) -> None:
        value = str(value or "").lower()
        if value not in data.FINANCIAL_STATUSES:
            raise InvalidChange(f"Unknown financial_status {value!r}; one of {', '.join(data.FINANCIAL_STATUSES)}")
        order["financial_status"] = value

    def _set_fulfillment(
        self, order: dict[str, Any], value: Any, when: datetime, shipment_status: str | None = None
    ) -> None:
        value = {"": None, "unfulfilled": None, "unshipped": None, "shipped": "fulfilled"}.get(value or "", value)
        if value is None:
            for f in data.live_fulfillments(order):
                f["status"], f["updated_at"] = "cancelled", when
        elif value == "fulfilled":
            if data.fulfillment_status(order) != "fulfilled":
                order["fulfillments"].append(
                    self.factory.fulfillment(order, when, {"shipment_status": shipment_status})
                )
        elif value == "partial":
            if data.fulfillment_status(order) is None:
                line = order["line_items"][0]
                quantity = line["current_quantity"] - 1 if len(order["line_items"]) == 1 else line["current_quantity"]
                if quantity < 1:
                    raise InvalidChange("A one-item order can't be partially fulfilled")
                order["fulfillments"].append(
                    self.factory.fulfillment(
                        order, when, {"line_items": {line["id"]: quantity}, "shipment_status": shipment_status}
                    )
                )
        else:
            raise InvalidChange(f"Unknown fulfillment_status {value!r}; one of None, 'partial', 'fulfilled'")
        data.refresh_derived(order)

    @staticmethod
    def _set_shipment_status(order: dict[str, Any], value: Any, when: datetime) -> None:
        if value not in data.SHIPMENT_STATUSES:
            raise InvalidChange(f"Unknown shipment_status {value!r}")
        for f in data.live_fulfillments(order):
            f["shipment_status"], f["updated_at"] = value, when

    @staticmethod
    def _cancel(order: dict[str, Any], reason: str | None, when: datetime) -> None:
        reason = (reason or "customer").lower()
        if reason not in data.CANCEL_REASONS:
            raise InvalidChange(f"Unknown cancel reason {reason!r}; one of {', '.join(data.CANCEL_REASONS)}")
        order["cancelled_at"], order["cancel_reason"] = when, reason
        order["financial_status"] = {
            "paid": "refunded",
            "partially_paid": "refunded",
            "partially_refunded": "refunded",
            "pending": "voided",
            "authorized": "voided",
        }.get(order["financial_status"], order["financial_status"])

    @staticmethod
    def _close_if_done(order: dict[str, Any], when: datetime) -> None:
        """Shopify archives an order once it is cancelled, or fulfilled with the money settled."""
        done = order["cancelled_at"] is not None or (
            order["fulfillment_status"] == "fulfilled"
            and order["financial_status"] in ("paid", "partially_refunded", "refunded")
        )
        if done and order["closed_at"] is None:
            order["closed_at"] = when

    def update_order(
        self, shop: str, order_id: int | str, *, notify: bool | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Change an order as the merchant would, bump `updated_at` (strictly later than before,
        whole seconds) and return a copy. Changes: financial_status, fulfillment_status
        (None/"partial"/"fulfilled"), add_fulfillment (True or {"tracking_company",
        "tracking_number", "tracking_url", "line_items", "shipment_status"}), shipment_status,
        delivered=True, cancel (True or a reason), cancel_reason, note, tags, email, phone,
        shipping_address (merged), current_quantities ({line id: qty}), updated_at (explicit)."""
        unknown = set(changes) - ORDER_CHANGES
        if unknown:
            raise InvalidChange(f"Unknown order changes: {', '.join(sorted(unknown))}")
        with self.lock:
            state = self.shop(shop)
            order = self._order(shop, order_id)
            before = (order["financial_status"], order["fulfillment_status"], order["cancelled_at"])
            work = copy.deepcopy(order)  # all or nothing: a bad change leaves the order as it was
            when = (
                _when(changes["updated_at"])
                if "updated_at" in changes
                else max(self._now(), work["updated_at"] + timedelta(seconds=1))
            )
            topics = ["orders/updated"]
            for key in ("note", "email", "phone"):
                if key in changes:
                    work[key] = changes[key]
            if "tags" in changes:
                work["tags"] = _tags(changes["tags"])
            if "shipping_address" in changes:
                work["shipping_address"] = {**(work["shipping_address"] or {}), **changes["shipping_address"]}
            if "current_quantities" in changes:
                by_id = {li["id"]: li for li in work["line_items"]}
                for line_id, quantity in dict(changes["current_quantities"]).items():
                    line = by_id.get(int(line_id))
                    if line is None or not 0 <= int(quantity) <= line["quantity"]:
                        raise InvalidChange(f"Bad quantity {quantity!r} for line {line_id}")
                    line["current_quantity"] = int(quantity)
                topics.append("orders/edited")
            if "financial_status" in changes:
                self._set_financial(work, changes["financial_status"])
            if "fulfillment_status" in changes:
                self._set_fulfillment(work, changes["fulfillment_status"], when, changes.get("shipment_status"))
            if changes.get("add_fulfillment"):
                spec = changes["add_fulfillment"] if isinstance(changes["add_fulfillment"], Mapping) else {}
                if not spec.get("line_items") and data.fulfillment_status(work) == "fulfilled":
                    raise InvalidChange("Nothing left to fulfil")
                work["fulfillments"].append(self.factory.fulfillment(work, when, spec))
            if "shipment_status" in changes and "fulfillment_status" not in changes:
                self._set_shipment_status(work, changes["shipment_status"], when)
            if changes.get("delivered"):
                self._set_shipment_status(work, "delivered", when)
            if changes.get("cancel") and work["cancelled_at"] is None:
                reason = changes["cancel"] if isinstance(changes["cancel"], str) else changes.get("cancel_reason")
                self._cancel(work, reason, when)
            data.refresh_derived(work)
            self._close_if_done(work, when)
            work["updated_at"] = when
            if work["cancelled_at"] and not before[2]:
                topics.append("orders/cancelled")
            if work["financial_status"] == "paid" and before[0] != "paid":
                topics.append("orders/paid")
            if work["fulfillment_status"] != before[1] and work["fulfillment_status"]:
                topics.append(
                    "orders/fulfilled" if work["fulfillment_status"] == "fulfilled" else "orders/partially_fulfilled"
                )
            order.clear()
            order.update(work)
            events = self._events(state, order, topics, notify)
            result = copy.deepcopy(order)
        self._deliver_all(events)
        return result

    def delete_order(self, shop: str, order_id: int | str, *, notify: bool | None = None) -> None:
        """Remove an order: the API then answers null / not found for it."""
        with self.lock:
            state = self.shop(shop)
            order = self._order(shop, order_id)
            del state.orders[order["id"]]
            events = self._events(state, order, ["orders/delete"], notify)
        self._deliver_all(events)

    def get_order(self, shop: str, order_id: int | str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._order(shop, order_id))

    def list_orders(self, shop: str) -> list[dict[str, Any]]:
        """Copies of the shop's orders, oldest change first."""
        with self.lock:
            orders = sorted(self.shop(shop).orders.values(), key=lambda o: (o["updated_at"], o["id"]))
            return copy.deepcopy(orders)

    def rest_order(self, shop: str, order_id: int | str) -> dict[str, Any]:
        """The order as a webhook body (Shopify's REST resource)."""
        with self.lock:
            return data.rest_order(self._order(shop, order_id), offset=self.shop(shop).utc_offset)

    # -- fulfilments and cancellation: what the API's mutations do ----------------------------
    def fulfillments(self, shop: str, order_id: int | str) -> list[dict[str, Any]]:
        """Copies of the order's fulfilments, oldest first; cancelled ones too (see `status`)."""
        with self.lock:
            return copy.deepcopy(self._order(shop, order_id)["fulfillments"])

    def fulfillment_orders(self, shop: str, order_id: int | str) -> list[dict[str, Any]]:
        """The order's fulfilment orders as the API derives them (see `data.fulfillment_orders`)."""
        with self.lock:
            return data.fulfillment_orders(self._order(shop, order_id))

    def _bump(self, order: Mapping[str, Any]) -> datetime:
        return max(self._now(), order["updated_at"] + timedelta(seconds=1))

    def fulfill(
        self,
        shop: str,
        order_id: int | str,
        line_items: Mapping[int | str, int] | None = None,
        *,
        tracking_company: str | None = None,
        tracking_number: str | None = None,
        tracking_url: str | None = None,
        notify_customer: bool = False,
        notify: bool | None = None,
    ) -> dict[str, Any]:
        """Create a successful fulfilment as `fulfillmentCreate` does and return a copy of it.

        `line_items` is {line id: quantity}; None fulfils everything that remains. Tracking is kept
        as given (no random tracking, unlike `update_order(add_fulfillment=...)`); a known carrier
        without a URL gets its tracking URL built, as Shopify does. The order's fulfilment status,
        `closed_at` and `updated_at` follow; subscribers hear orders/updated plus orders/fulfilled or
        orders/partially_fulfilled. Raises UserError where Shopify would answer `userErrors`."""
        with self.lock:
            state = self.shop(shop)
            order = self._order(shop, order_id)
            (fo,) = data.fulfillment_orders(order)
            if fo["status"] not in ("OPEN", "IN_PROGRESS"):
                raise UserError(
                    f"Fulfillment order {data.gid('FulfillmentOrder', fo['id'])} has an unfulfillable "
                    f"status= {fo['status'].lower()}.",
                    field=["fulfillment", "lineItemsByFulfillmentOrder"],
                )
            remaining = {fl["line_item_id"]: fl["remaining_quantity"] for fl in fo["line_items"]}
            items: dict[int, int] = {}
            if line_items is None:
                items = {line_id: quantity for line_id, quantity in remaining.items() if quantity > 0}
            else:
                for line_id, quantity in dict(line_items).items():
                    if int(line_id) not in remaining:
                        raise UserError(
                            f"Line item {line_id} is not part of order {order['id']}.",
                            field=["fulfillment", "lineItemsByFulfillmentOrder"],
                        )
                    items[int(line_id)] = items.get(int(line_id), 0) + int(quantity)
            for line_id, quantity in items.items():
                if not 0 < quantity <= remaining[line_id]:
                    raise UserError(
                        "Invalid fulfillment order line item quantity requested.",
                        field=["fulfillment", "lineItemsByFulfillmentOrder"],
                    )
            if not items:
                raise UserError("Fulfillment must contain at least one line item.", field=["fulfillment"])
            when = self._bump(order)
            before = order["fulfillment_status"]
            company = tracking_company or None
            number = tracking_number or None
            if not tracking_url and company in data.CARRIERS and number:
                tracking_url = data.CARRIERS[company].format(number)
            fulfillment = {
                "id": self.factory.next_fulfillment_id(),
                "created_at": when,
                "updated_at": when,
                "status": "success",
                "shipment_status": None,
                "tracking_company": company,
                "tracking_number": number,
                "tracking_url": tracking_url or None,
                "line_items": items,
                "notify_customer": bool(notify_customer),
            }
            order["fulfillments"].append(fulfillment)
            data.refresh_derived(order)
            self._close_if_done(order, when)
            order["updated_at"] = when
            topics = ["orders/updated"]
            if order["fulfillment_status"] == "fulfilled" and before != "fulfilled":
                topics.append("orders/fulfilled")
            elif order["fulfillment_status"] == "partial":
                topics.append("orders/partially_fulfilled")
            events = self._events(state, order, topics, notify)
            result = copy.deepcopy(fulfillment)
        self._deliver_all(events)
        return result

    def _find_fulfillment(self, state: ShopState, fulfillment_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        for order in state.orders.values():
            for f in order["fulfillments"]:
                if f["id"] == fulfillment_id:
                    return order, f
        raise UserError("Fulfillment does not exist.", field=["fulfillmentId"])

    def update_tracking(
        self,
        shop: str,
        fulfillment_id: int | str,
        *,
        company: str | None = None,
        number: str | None = None,
        url: str | None = None,
        notify_customer: bool = False,
        notify: bool | None = None,
    ) -> dict[str, Any]:
        """Replace a fulfilment's tracking, as `fulfillmentTrackingInfoUpdate` does; returns a copy
        of the fulfilment. Bumps the order's `updated_at` and sends orders/updated."""
        with self.lock:
            state = self.shop(shop)
            order, fulfillment = self._find_fulfillment(state, int(fulfillment_id))
            if fulfillment["status"] != "success":
                raise UserError("Cannot update tracking for a cancelled fulfillment.", field=["fulfillmentId"])
            when = self._bump(order)
            if not url and company in data.CARRIERS and number:
                url = data.CARRIERS[company].format(number)
            fulfillment.update(
                tracking_company=company or None,
                tracking_number=number or None,
                tracking_url=url or None,
                updated_at=when,
                notify_customer=bool(notify_customer) or fulfillment.get("notify_customer", False),
            )
            order["updated_at"] = when
            events = self._events(state, order, ["orders/updated"], notify)
            result = copy.deepcopy(fulfillment)
        self._deliver_all(events)
        return result

    def cancel(
        self,
        shop: str,
        order_id: int | str,
        *,
        reason: str = "other",
        restock: bool = True,
        refund: bool = False,
        staff_note: str = "",
        notify_customer: bool = False,
        notify: bool | None = None,
    ) -> dict[str, Any]:
        """Cancel an order as `orderCancel` does and return a copy: `cancelled_at`/`cancel_reason`
        set, authorisations voided, captured money refunded only with `refund`, the order closed.
        Sends orders/cancelled and orders/updated. Raises UserError for an order already cancelled
        (cancellation is irreversible). `restock`, `staff_note` and `notify_customer` are accepted
        and recorded only by the API's mutation log: the sandbox keeps no inventory or notes."""
        with self.lock:
            state = self.shop(shop)
            order = self._order(shop, order_id)
            if order["cancelled_at"] is not None:
                raise UserError("Order has already been cancelled.", field=["orderId"], code="INVALID")
            reason = (reason or "other").lower()
            if reason not in data.CANCEL_REASONS:
                raise UserError(f"Invalid cancel reason {reason!r}.", field=["reason"], code="INVALID")
            when = self._bump(order)
            order["cancelled_at"], order["cancel_reason"] = when, reason
            voided = {"pending": "voided", "authorized": "voided"}
            refunded = {"paid": "refunded", "partially_paid": "refunded", "partially_refunded": "refunded"}
            financial = order["financial_status"]
            order["financial_status"] = (
                voided.get(financial) or (refunded.get(financial) if refund else None) or financial
            )
            self._close_if_done(order, when)
            order["updated_at"] = when
            events = self._events(state, order, ["orders/cancelled", "orders/updated"], notify)
            result = copy.deepcopy(order)
        self._deliver_all(events)
        return result

    def record_mutation(self, entry: dict[str, Any]) -> None:
        """Add one API mutation (accepted or refused) to `mutation_log`."""
        with self.lock:
            self.mutation_log.append({**entry, "at": self.clock().isoformat()})
            del self.mutation_log[:-MAX_LOG]

    def mutations(self, name: str | None = None, *, ok: bool | None = None) -> list[dict[str, Any]]:
        """Copies of `mutation_log` entries, optionally only one mutation (`fulfillmentCreate`...)
        and only accepted (`ok=True`) or refused ones."""
        with self.lock:
            return [
                copy.deepcopy(m)
                for m in self.mutation_log
                if (name is None or m.get("mutation") == name) and (ok is None or m.get("ok") == ok)
            ]

    # -- webhooks ------------------------------------------------------------------------
    def subscribe(
        self, shop: str, url: str, secret: str | None = None, topics: Iterable[str] | None = None
    ) -> Subscription:
        """Deliver the shop's order webhooks to `url`, signed with `secret` (default: the shop's
        webhook secret). `topics` defaults to orders/create and orders/updated."""
        wanted = frozenset(topics) if topics else DEFAULT_TOPICS
        if wanted - ORDER_TOPICS:
            raise InvalidChange(f"Unknown topics: {', '.join(sorted(wanted - ORDER_TOPICS))}")
        with self.lock:
            state = self.shop(shop)
            subscription = Subscription(
                url=url, secret=secret if secret is not None else state.webhook_secret, topics=wanted
            )
            state.subscriptions = [s for s in state.subscriptions if s.url != url] + [subscription]
            return subscription

    def unsubscribe(self, shop: str, url: str | None = None) -> None:
        with self.lock:
            state = self.shop(shop)
            state.subscriptions = [s for s in state.subscriptions if url is not None and s.url != url]

    def capture_webhook(self, shop: str, topic: str, order_id: int | str) -> WebhookEvent:
        """Freeze the order's current REST body as a webhook event (to send now or later)."""
        if topic not in ORDER_TOPICS:
            raise InvalidChange(f"Unknown topic {topic!r}")
        with self.lock:
            state = self.shop(shop)
            order = self._order(shop, order_id)
            return self._capture(state, order, topic)

    def _capture(self, state: ShopState, order: Mapping[str, Any], topic: str) -> WebhookEvent:
        body = {"id": order["id"]} if topic == "orders/delete" else data.rest_order(order, offset=state.utc_offset)
        return WebhookEvent(
            shop=state.domain,
            topic=topic,
            order_id=order["id"],
            body=dumps(body),
            api_version=state.api_version,
            triggered_at=self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
        )

    def _events(
        self, state: ShopState, order: Mapping[str, Any], topics: Iterable[str], notify: bool | None
    ) -> list[WebhookEvent]:
        if not (self.auto_webhooks if notify is None else notify):
            return []
        wanted = {t for s in state.subscriptions for t in s.topics}
        return [self._capture(state, order, topic) for topic in topics if topic in wanted]

    def deliver(self, event: WebhookEvent) -> list[int | None]:
        """POST the event to each subscriber of its topic; one status per subscriber (None when
        the receiver could not be reached). Delivering the same event again is a duplicate:
        same body, same X-Shopify-Webhook-Id."""
        with self.lock:
            targets = [s for s in self.shop(event.shop).subscriptions if event.topic in s.topics]
            sends = [(s.url, event.headers(s.url, s.secret)) for s in targets]
        statuses: list[int | None] = []
        for url, headers in sends:
            status, error = post(url, event.body, headers, self.webhook_timeout)
            statuses.append(status)
            with self.lock:
                self.deliveries.append(
                    {
                        "shop": event.shop,
                        "topic": event.topic,
                        "order_id": event.order_id,
                        "url": url,
                        "webhook_id": headers["X-Shopify-Webhook-Id"],
                        "event_id": event.event_id,
                        "status": status,
                        "error": error,
                        "at": self.clock().isoformat(),
                    }
                )
                del self.deliveries[:-MAX_LOG]
        return statuses

    def _deliver_all(self, events: Iterable[WebhookEvent]) -> None:
        if self._defer_thread == threading.get_ident():  # inside a GraphQL request: send after it
            self._deferred.extend(events)
            return
        for event in events:
            self.deliver(event)

    def send_webhook(self, shop: str, topic: str, order_id: int | str, *, duplicate: bool = False) -> list[int | None]:
        """Send the order's current state as `topic` to its subscribers; with `duplicate`, send
        the very same delivery twice. Returns every HTTP status, in order."""
        event = self.capture_webhook(shop, topic, order_id)
        statuses = self.deliver(event)
        if duplicate:
            statuses += self.deliver(event)
        return statuses

    def webhook_body(self, shop: str, order_id: int | str) -> bytes:
        """The exact bytes an `orders/*` webhook would carry for the order now (keep them to
        send later with `send_raw_webhook`, e.g. as an out-of-order older version)."""
        with self.lock:
            return dumps(data.rest_order(self._order(shop, order_id), offset=self.shop(shop).utc_offset))

    def send_raw_webhook(self, shop: str, topic: str, body: bytes | Mapping[str, Any]) -> list[int | None]:
        """Sign and send `body` as a new delivery of `topic` (fresh webhook and event ids)."""
        raw = body if isinstance(body, bytes) else dumps(body)
        try:
            order_id = int(json.loads(raw).get("id") or 0)
        except (ValueError, AttributeError, TypeError):
            order_id = 0
        with self.lock:
            state = self.shop(shop)
            event = WebhookEvent(
                shop=shop,
                topic=topic,
                order_id=order_id,
                body=raw,
                api_version=state.api_version,
                triggered_at=self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            )
        return self.deliver(event)

    def send_out_of_order(
        self, shop: str, order_id: int | str, *, topic: str = "orders/updated", **changes: Any
    ) -> list[int | None]:
        """Capture the order as it is, apply `changes` (a default note edit), send the newer
        version, then the older captured one: the receiver sees an older update last."""
        older = self.capture_webhook(shop, topic, order_id)
        self.update_order(shop, order_id, notify=False, **(changes or {"note": "edited in the sandbox"}))
        newer = self.capture_webhook(shop, topic, order_id)
        return self.deliver(newer) + self.deliver(older)

    # -- request log ---------------------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-MAX_LOG]
            self._counts["total"] += 1
            self._counts[f"operation:{entry.get('operation') or '-'}"] += 1
            self._counts[f"status:{entry.get('status')}"] += 1

    def request_counts(self) -> dict[str, Any]:
        with self.lock:
            by_operation = {k.split(":", 1)[1]: v for k, v in self._counts.items() if k.startswith("operation:")}
            by_status = {k.split(":", 1)[1]: v for k, v in self._counts.items() if k.startswith("status:")}
            return {"total": self._counts["total"], "by_operation": by_operation, "by_status": by_status}

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()
            self._counts.clear()

    # -- simulation ----------------------------------------------------------------------
    def simulate_step(self, shop: str, update_ratio: float = 0.3) -> tuple[str, dict[str, Any]]:
        """One tick of a live shop: a new order, or the next step in an existing order's life
        (paid, fulfilled with tracking, in transit, delivered, now and then cancelled).
        Subscribers are notified. Returns ("created" | "updated", order copy)."""
        with self.lock:
            state = self.shop(shop)
            movable = [
                o
                for o in state.orders.values()
                if (o["cancelled_at"] is None and o["closed_at"] is None)
                or any(f["shipment_status"] != "delivered" for f in data.live_fulfillments(o))
            ]
            if not movable or self.rng.random() >= update_ratio:
                action = None
            else:
                order = self.rng.choice(sorted(movable, key=lambda o: o["id"]))
                action = (order["id"], self._next_step(order))
        if action is not None:
            try:
                return "updated", self.update_order(shop, action[0], notify=True, **action[1])
            except UnknownOrder:  # deleted since it was picked: make something new instead
                pass
        return "created", self.create_orders(shop, 1, notify=True)[0]

    def _next_step(self, order: Mapping[str, Any]) -> dict[str, Any]:
        rng = self.rng
        if order["financial_status"] in ("pending", "authorized"):
            return {"cancel": "customer"} if rng.random() < 0.1 else {"financial_status": "paid"}
        if order["fulfillment_status"] != "fulfilled" and order["cancelled_at"] is None:
            return {"cancel": "inventory"} if rng.random() < 0.03 else {"add_fulfillment": True}
        live = data.live_fulfillments(order)
        if live and any(f["shipment_status"] in (None, "label_printed", "confirmed") for f in live):
            return {"shipment_status": "in_transit"}
        if live and any(f["shipment_status"] != "delivered" for f in live):
            return {"delivered": True}
        return {"tags": [*order["tags"], "repeat"], "note": rng.choice(("called the customer", "gift wrap"))}
