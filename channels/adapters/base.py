"""The contract every channel adapter implements, and the values it speaks in.

Adapters translate a channel's real API into these plain values and back. They never touch
the database: they take a `ChannelConnection` (plain values) and return normalised records;
services decide what to store. Errors are the small closed set at the bottom of this module,
the only ones the sync layer needs to understand.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class Capability(enum.StrEnum):
    WEBHOOKS = "webhooks"
    POLLING = "polling"
    FETCH_ONE = "fetch_one"
    SHIP = "ship"
    ADD_TRACKING = "add_tracking"
    CANCEL = "cancel"
    PUSH_STOCK = "push_stock"
    LABELS = "labels"


@dataclass(frozen=True)
class ChannelConnection:
    """What an adapter needs to talk to one merchant's account at a channel."""

    channel_id: int
    kind: str
    credentials: Mapping[str, Any]
    webhook_secret: str = ""
    api_base_url: str = ""
    status_mappings: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class NormalizedLine:
    external_id: str
    sku: str
    title: str
    quantity: int
    unit_price: Decimal
    variant: str = ""


@dataclass
class NormalizedShipment:
    external_id: str
    status: str = ""
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    shipped_at: datetime | None = None


@dataclass
class NormalizedOrder:
    external_id: str
    number: str
    status: str
    payment_status: str
    channel_status: str
    currency: str
    total: Decimal
    source_updated_at: datetime
    placed_at: datetime | None = None
    subtotal: Decimal = Decimal("0")
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    customer_name: str = ""
    customer_email: str = ""
    customer_phone: str = ""
    shipping_address: dict[str, Any] = field(default_factory=dict)
    billing_address: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    lines: list[NormalizedLine] = field(default_factory=list)
    shipments: list[NormalizedShipment] = field(default_factory=list)
    fulfillment_status: str = "unfulfilled"  # unfulfilled, partially_fulfilled, fulfilled
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrderPage:
    orders: list[NormalizedOrder]
    next_cursor: str | None
    # Orders the channel reported as matching the whole query, when it can tell (progress bars).
    total: int | None = None


@dataclass
class WebhookParse:
    """What a webhook delivery means. Either `order` is complete, or only
    `order_external_id` is known and the order must be fetched (thin or pointer payloads)."""

    topic: str
    order: NormalizedOrder | None = None
    order_external_id: str = ""
    ignored_reason: str = ""


@dataclass(frozen=True)
class ShipmentPushLine:
    line_external_id: str
    quantity: int


@dataclass(frozen=True)
class ShipmentPush:
    """Mark shipped: a fulfilment of some lines, with tracking. `reference` is Fenicia's own
    id for the shipment, for channels that can store it (idempotency)."""

    order_external_id: str
    lines: tuple[ShipmentPushLine, ...]
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    notify_customer: bool = False
    reference: str = ""


@dataclass(frozen=True)
class TrackingPush:
    order_external_id: str
    shipment_external_id: str
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    notify_customer: bool = False


@dataclass(frozen=True)
class CancelPush:
    order_external_id: str
    reason: str = "other"  # customer, inventory, fraud, declined, staff, other
    notify_customer: bool = False
    restock: bool = True
    staff_note: str = ""


@dataclass
class PushResult:
    """What the channel now holds. `already_done` says the channel had it before this call
    (a retry after a request that did reach it), so nothing new was created."""

    external_id: str = ""
    already_done: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StockItem:
    """Available quantity of one SKU to set at a channel."""

    sku: str
    available: int


@dataclass
class StockPushResult:
    sku: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class RefreshedToken:
    credentials: dict[str, Any]


# Lets an adapter report each HTTP attempt (for the timeline) without knowing about the database.
AttemptRecorder = Callable[[dict[str, Any]], None]


@runtime_checkable
class ChannelAdapter(Protocol):
    kind: str
    capabilities: frozenset[Capability]
    # How far behind now a poll window must end (Amazon requires ~2 min); and the overlap
    # re-read at the start of each window so late writes at the channel are not missed.
    poll_end_lag: timedelta
    poll_overlap: timedelta
    max_page_size: int

    def list_orders(
        self, *, updated_since: datetime, updated_until: datetime | None, cursor: str | None, limit: int
    ) -> OrderPage:
        """One page of orders updated in the window, oldest change first. Raises ChannelError."""

    def count_orders(self, *, updated_since: datetime, updated_until: datetime | None) -> int | None:
        """How many orders the window holds, or None when the channel can't say cheaply."""

    def fetch_order(self, external_id: str) -> NormalizedOrder:
        """The order as the channel has it now. Raises OrderNotFound on the channel's 404."""

    def fetch_orders(self, external_ids: Sequence[str]) -> dict[str, NormalizedOrder]:
        """Several orders at once; ids the channel doesn't know are absent from the result."""

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> bool:
        """True only for a delivery signed with this channel's secret (constant-time compare)."""

    def webhook_delivery_id(self, headers: Mapping[str, str], body: bytes) -> str:
        """The channel's dedupe key for a delivery, read without parsing the order."""

    def webhook_topic(self, headers: Mapping[str, str]) -> str: ...

    def parse_webhook(self, *, headers: Mapping[str, str], body: bytes) -> WebhookParse:
        """Raises InvalidPayload when the body can't be understood."""

    def refresh_credentials(self) -> RefreshedToken | None:
        """Exchange a refresh token for a new access token; None when the channel has no refresh."""

    def credentials_expiring(self, *, within: timedelta) -> bool: ...

    # -- outbound: only for the capabilities the adapter declares ---------------------------
    def push_shipment(self, push: ShipmentPush) -> PushResult:
        """Create a fulfilment. Idempotent: first looks for one that already matches (same
        tracking number, or the lines already fulfilled) and returns it with already_done."""

    def push_tracking(self, push: TrackingPush) -> PushResult: ...

    def cancel_order(self, push: CancelPush) -> PushResult:
        """Cancel at the channel; an order already cancelled there is already_done."""

    def push_stock(self, items: Sequence[StockItem]) -> list[StockPushResult]: ...


class ChannelError(Exception):
    """Base of the errors adapters raise. `status` is the HTTP status when there was one."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.details = details or {}


class RateLimited(ChannelError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class TransientError(ChannelError):
    """Timeouts, connection failures, 5xx: worth another try later."""

    retryable = True


class AuthExpired(ChannelError):
    """401/403: the token is invalid, expired or lacks scope. Never retried blindly."""


class OrderNotFound(ChannelError):
    """The channel answered 404 for the order."""


class InvalidData(ChannelError):
    """400/422: the channel refused the request; its message is shown as is."""


class InvalidPayload(ChannelError):
    """A webhook body or API response we could not understand."""
