"""The sandbox's stock side: product variants with inventory items, locations, and
`inventorySetQuantities` — the operations `ShopifyAdapter.push_stock` sends.

Kept apart from the order operations (`shopify.py`): `SandboxState.graphql` asks `answer()`
first and falls through to the order executor when the operation isn't one of ours. Each shop's
stock lives in a `ShopInventory` held by the state; it starts with one location ("Shop
location") and a tracked variant for every SKU of the sandbox catalogue, at 0 available.

Rules follow the API version of the shop (`ShopState.api_version`):
- from 2026-04 each call needs `@idempotent(key:)` and every quantity an explicit
  `changeFromQuantity` (null opts out of the compare); `ignoreCompareQuantity` is gone; a key
  seen before with the same input replays the first answer, with another input it is refused;
- before 2026-04 `ignoreCompareQuantity: true`, or a `compareQuantity` per quantity.
A call with any userError applies nothing (the adjustment group is null).

    inventory = sandbox_inventory(server.state)
    inventory.add_variants("demo.myshopify.com", ["SKU-1", "SKU-2"])
    ...  # push stock
    inventory.available("demo.myshopify.com", "SKU-1"); inventory.set_calls("demo.myshopify.com")
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import data
from .graphql import Context, GraphQLError, operation_name, parse, project, requested_cost

if TYPE_CHECKING:
    from .state import SandboxState, ShopState

OPERATIONS = frozenset({"FeniciaVariantsBySku", "FeniciaLocations", "FeniciaSetInventory", "FeniciaSetInventoryLegacy"})
IDEMPOTENCY_FROM = "2026-04"
MUTATION_COST = 10
MAX_QUERY_COST = 1000
MAX_QUANTITY = 1_000_000_000
QUANTITY_NAMES = frozenset({"available", "on_hand"})
# Shopify's documented reasons for quantity changes.
REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)
_SKU_TERM = re.compile(r"""sku:(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s()]+))""")
VARIANT_BASE = 49_000_000_000
ITEM_BASE = 51_000_000_000
LOCATION_BASE = 70_000_000


@dataclass
class ShopInventory:
    locations: dict[int, dict[str, Any]] = field(default_factory=dict)
    variants: dict[int, dict[str, Any]] = field(default_factory=dict)  # variant id -> variant
    levels: dict[tuple[int, int], int] = field(default_factory=dict)  # (item id, location id) -> available
    set_calls: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # key -> (input, answer)
    next_id: int = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id


def _store(state: SandboxState) -> dict[str, ShopInventory]:
    store = state.__dict__.get("_stock")
    if store is None:
        store = state.__dict__["_stock"] = {}
    return store


def inventory_for(state: SandboxState, shop: str) -> ShopInventory:
    """The shop's stock, created on first use with the default location and catalogue."""
    with state.lock:
        state.shop(shop)  # unknown shops fail loudly
        store = _store(state)
        if shop not in store:
            inventory = store[shop] = ShopInventory()
            location_id = LOCATION_BASE + inventory._id()
            inventory.locations[location_id] = {"id": location_id, "name": "Shop location", "active": True}
            _add(inventory, [row[0] for row in data.CATALOGUE], tracked=True, stocked_at=[location_id])
        return store[shop]


def _add(inventory: ShopInventory, skus: Iterable[str], *, tracked: bool, stocked_at: list[int]) -> list[dict]:
    added = []
    for sku in skus:
        n = inventory._id()
        variant = {"id": VARIANT_BASE + n, "sku": sku, "item_id": ITEM_BASE + n, "tracked": tracked}
        inventory.variants[variant["id"]] = variant
        for location_id in stocked_at:
            inventory.levels.setdefault((variant["item_id"], location_id), 0)
        added.append(variant)
    return added


class SandboxInventory:
    """Test and demo conveniences over the state's stock (all under the state's lock)."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def add_variants(self, shop: str, skus: Iterable[str], *, tracked: bool = True, stocked: bool = True) -> list[dict]:
        with self.state.lock:
            inventory = inventory_for(self.state, shop)
            where = [min(inventory.locations)] if stocked else []
            return _add(inventory, skus, tracked=tracked, stocked_at=where)

    def add_location(self, shop: str, name: str) -> int:
        with self.state.lock:
            inventory = inventory_for(self.state, shop)
            location_id = LOCATION_BASE + inventory._id()
            inventory.locations[location_id] = {"id": location_id, "name": name, "active": True}
            for item_id in {v["item_id"] for v in inventory.variants.values()}:
                inventory.levels.setdefault((item_id, location_id), 0)
            return location_id

    def available(self, shop: str, sku: str, location_id: int | None = None) -> int | None:
        """Available quantity of the (first) variant with the SKU at the location (default: the
        first location); None when there is no such variant or it isn't stocked there."""
        with self.state.lock:
            inventory = inventory_for(self.state, shop)
            location = location_id or min(inventory.locations)
            for variant in inventory.variants.values():
                if variant["sku"] == sku:
                    return inventory.levels.get((variant["item_id"], location))
            return None

    def set_calls(self, shop: str) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(call) for call in inventory_for(self.state, shop).set_calls]

    def applied_calls(self, shop: str) -> list[dict[str, Any]]:
        return [c for c in self.set_calls(shop) if c["applied"]]


def sandbox_inventory(state: SandboxState) -> SandboxInventory:
    return SandboxInventory(state)


# -- GraphQL ---------------------------------------------------------------------------------------
def _errors(errors: list[GraphQLError], cost: dict[str, Any]) -> dict[str, Any]:
    return {"errors": [e.as_dict() for e in errors], "extensions": {"cost": cost}}


def answer(state: SandboxState, shop: ShopState, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The response to a stock operation, or None when the operation isn't one (the order
    executor answers it). Call with the state's lock held."""
    query, variables = body.get("query"), body.get("variables")
    if not isinstance(query, str):
        return None
    name = body.get("operationName") or operation_name(query)
    if name not in OPERATIONS:
        return None
    bucket = shop.bucket

    def cost(requested: int, actual: int | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": bucket.status()}

    try:
        document = parse(query)
        context = Context(document, document.operation(name), variables if isinstance(variables, dict) else {})
        kind = context.operation.kind
        if kind not in ("query", "mutation"):
            raise GraphQLError(f"The sandbox does not answer {kind}s", code="UNSUPPORTED_OPERATION")
        requested = requested_cost(context, context.operation.selections)
        fields = context.fields(context.operation.selections)
        if kind == "mutation":
            requested += (MUTATION_COST - 1) * len(fields)
    except GraphQLError as exc:
        return _errors([exc], cost(0, 0))
    if requested > MAX_QUERY_COST:
        return _errors([GraphQLError(f"Query cost is {requested}", code="MAX_COST_EXCEEDED")], cost(requested, None))
    if not bucket.take(requested):
        return _errors([GraphQLError("Throttled", code="THROTTLED")], cost(requested, None))
    resolver = _Stock(state, shop, context)
    try:
        root = resolver.query_root() if kind == "query" else resolver.mutation_root(fields)
        result, actual = project(context, root, context.operation.selections)
    except GraphQLError as exc:
        bucket.give(requested)
        return _errors([exc], cost(requested, 0))
    if kind == "mutation":
        actual += (MUTATION_COST - 1) * len(fields)
    bucket.give(max(0, requested - actual))
    return {"data": result, "extensions": {"cost": cost(requested, actual)}}


def _cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(str(cursor).encode(), validate=True))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor!r}", code="BAD_REQUEST") from exc


def _connection(typename: str, nodes: list[dict[str, Any]], args: Mapping[str, Any]) -> dict[str, Any]:
    first = args.get("first")
    start = _offset(args.get("after"))
    page = nodes[start : start + first] if isinstance(first, int) else nodes[start:]
    end = start + len(page)
    return {
        "__typename": f"{typename}Connection",
        "nodes": page,
        "edges": [
            {"__typename": f"{typename}Edge", "cursor": _cursor(start + i + 1), "node": n} for i, n in enumerate(page)
        ],
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": end < len(nodes),
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(start + 1) if page else None,
            "endCursor": _cursor(end) if page else None,
        },
    }


def _gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def _number(value: Any, kind: str) -> int | None:
    match = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", str(value or ""))
    return int(match.group(1)) if match else None


def sku_terms(query: str | None) -> set[str] | None:
    """The SKUs a `sku:"A" OR sku:B` search names (lower-cased); None for no sku filter."""
    found = {next(g for g in m.groups() if g is not None) for m in _SKU_TERM.finditer(query or "")}
    if not found:
        return None
    return {s.replace('\\"', '"').replace("\\\\", "\\").lower() for s in found}


class _Stock:
    def __init__(self, state: SandboxState, shop: ShopState, context: Context) -> None:
        self.state, self.shop, self.context = state, shop, context
        self.inventory = inventory_for(state, shop.domain)

    # -- reads ----------------------------------------------------------------------------
    def query_root(self) -> dict[str, Any]:
        return {"__typename": "QueryRoot", "productVariants": self.product_variants, "locations": self.locations}

    def _variant_node(self, variant: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "ProductVariant",
            "id": _gid("ProductVariant", variant["id"]),
            "sku": variant["sku"],
            "inventoryItem": {
                "__typename": "InventoryItem",
                "id": _gid("InventoryItem", variant["item_id"]),
                "tracked": variant["tracked"],
                "sku": variant["sku"],
            },
        }

    def product_variants(self, args: Mapping[str, Any]) -> dict[str, Any]:
        wanted = sku_terms(args.get("query"))
        variants = sorted(self.inventory.variants.values(), key=lambda v: v["id"])
        if wanted is not None:
            variants = [v for v in variants if (v["sku"] or "").lower() in wanted]
        return _connection("ProductVariant", [self._variant_node(v) for v in variants], args)

    def locations(self, args: Mapping[str, Any]) -> dict[str, Any]:
        nodes = [
            {"__typename": "Location", "id": _gid("Location", loc["id"]), "name": loc["name"], "isActive": True}
            for loc in sorted(self.inventory.locations.values(), key=lambda x: x["id"])
            if loc["active"]
        ]
        return _connection("Location", nodes, args)

    # -- inventorySetQuantities -----------------------------------------------------------
    def mutation_root(self, fields: list[Any]) -> dict[str, Any]:
        keys = {}
        for f in fields:
            for directive in f.directives:
                if directive.name == "idempotent":
                    keys[f.name] = self.context.args(directive).get("key")
        return {
            "__typename": "Mutation",
            "inventorySetQuantities": lambda args: self.set_quantities(args, keys.get("inventorySetQuantities")),
        }

    def set_quantities(self, args: Mapping[str, Any], key: str | None) -> dict[str, Any]:
        stock_input = args.get("input")
        if not isinstance(stock_input, dict):
            raise GraphQLError(
                "Field 'inventorySetQuantities' is missing required arguments: input", code="BAD_REQUEST"
            )
        modern = self.shop.api_version >= IDEMPOTENCY_FROM
        quantities = stock_input.get("quantities") or []
        if modern:
            if not key:
                raise GraphQLError(
                    "The @idempotent directive with a key is required for inventorySetQuantities from API 2026-04",
                    code="BAD_REQUEST",
                )
            if "ignoreCompareQuantity" in stock_input:
                raise GraphQLError(
                    "InputObject 'InventorySetQuantitiesInput' doesn't accept argument 'ignoreCompareQuantity'",
                    code="argumentNotAccepted",
                )
            missing = [i for i, q in enumerate(quantities) if isinstance(q, dict) and "changeFromQuantity" not in q]
            if missing:
                raise GraphQLError(
                    f"changeFromQuantity is required for every quantity (missing at {missing[:5]}); "
                    "pass null to skip the check",
                    code="BAD_REQUEST",
                )
            fingerprint = json.dumps(stock_input, sort_keys=True, default=str)
            seen = self.inventory.idempotency.get(key)
            if seen is not None:
                if seen[0] != fingerprint:
                    return self._payload(
                        None, [("IDEMPOTENCY_KEY_PARAMETER_MISMATCH", [], "The key was used with other parameters")]
                    )
                self._record(key, stock_input, [], applied=False, replayed=True)
                return seen[1]
        errors = self._validate(stock_input, quantities, modern)
        group = None
        if not errors:
            for q in quantities:
                item = _number(q["inventoryItemId"], "InventoryItem")
                location = _number(q["locationId"], "Location")
                self.inventory.levels[(item, location)] = int(q["quantity"])
            group = {
                "__typename": "InventoryAdjustmentGroup",
                "id": _gid("InventoryAdjustmentGroup", self.inventory._id()),
                "reason": stock_input.get("reason"),
                "referenceDocumentUri": stock_input.get("referenceDocumentUri"),
            }
        payload = self._payload(group, errors)
        self._record(key, stock_input, errors, applied=group is not None, replayed=False)
        if modern and key:
            self.inventory.idempotency[key] = (json.dumps(stock_input, sort_keys=True, default=str), payload)
        return payload

    def _validate(self, stock_input: Mapping[str, Any], quantities: list[Any], modern: bool) -> list[tuple]:
        errors: list[tuple[str, list[str], str]] = []
        if stock_input.get("name") not in QUANTITY_NAMES:
            errors.append(
                ("INVALID_NAME", ["input", "name"], "The quantity name must be either 'available' or 'on_hand'.")
            )
        if stock_input.get("reason") not in REASONS:
            errors.append(("INVALID_REASON", ["input", "reason"], "The specified reason is invalid."))
        ignore = bool(stock_input.get("ignoreCompareQuantity"))
        for i, q in enumerate(quantities):
            at = ["input", "quantities", str(i)]
            if not isinstance(q, dict):
                errors.append(("INVALID_INVENTORY_ITEM", at, "Each quantity must be an object."))
                continue
            item = _number(q.get("inventoryItemId"), "InventoryItem")
            location = _number(q.get("locationId"), "Location")
            known_items = {v["item_id"] for v in self.inventory.variants.values()}
            if item not in known_items:
                errors.append(
                    (
                        "INVALID_INVENTORY_ITEM",
                        [*at, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                    )
                )
                continue
            if location not in self.inventory.locations:
                errors.append(("INVALID_LOCATION", [*at, "locationId"], "The specified location could not be found."))
                continue
            quantity = q.get("quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                errors.append(("INVALID_QUANTITY_NEGATIVE", [*at, "quantity"], "The quantity must be an integer."))
                continue
            if quantity < 0:
                errors.append(("INVALID_QUANTITY_NEGATIVE", [*at, "quantity"], "The quantity can't be negative."))
                continue
            if quantity > MAX_QUANTITY:
                errors.append(
                    (
                        "INVALID_QUANTITY_TOO_HIGH",
                        [*at, "quantity"],
                        "The total quantity can't be higher than 1,000,000,000.",
                    )
                )
                continue
            if (item, location) not in self.inventory.levels:
                errors.append(
                    (
                        "ITEM_NOT_STOCKED_AT_LOCATION",
                        [*at, "locationId"],
                        "The specified inventory item is not stocked at the location.",
                    )
                )
                continue
            current = self.inventory.levels[(item, location)]
            if modern:
                expected = q.get("changeFromQuantity")
                if expected is not None and expected != current:
                    errors.append(
                        (
                            "CHANGE_FROM_QUANTITY_STALE",
                            [*at, "changeFromQuantity"],
                            "The changeFromQuantity value does not match persisted value.",
                        )
                    )
            elif not ignore:
                if "compareQuantity" not in q:
                    errors.append(
                        (
                            "COMPARE_QUANTITY_REQUIRED",
                            [*at, "compareQuantity"],
                            "The compareQuantity argument must be given to each quantity or ignored using "
                            "ignoreCompareQuantity.",
                        )
                    )
                elif q["compareQuantity"] != current:
                    errors.append(
                        (
                            "COMPARE_QUANTITY_STALE",
                            [*at, "compareQuantity"],
                            "The compareQuantity value does not match persisted value.",
                        )
                    )
        return errors

    @staticmethod
    def _payload(group: dict[str, Any] | None, errors: list[tuple]) -> dict[str, Any]:
        return {
            "__typename": "InventorySetQuantitiesPayload",
            "inventoryAdjustmentGroup": group,
            "userErrors": [
                {"__typename": "InventorySetQuantitiesUserError", "code": code, "field": path, "message": message}
                for code, path, message in errors
            ],
        }

    def _record(
        self, key: str | None, stock_input: Mapping[str, Any], errors: list[tuple], *, applied: bool, replayed: bool
    ) -> None:
        self.inventory.set_calls.append(
            {
                "key": key,
                "input": json.loads(json.dumps(stock_input, default=str)),
                "user_errors": [{"code": c, "field": f, "message": m} for c, f, m in errors],
                "applied": applied,
                "replayed": replayed,
                "api_version": self.shop.api_version,
                "at": self.state.clock().isoformat(),
            }
        )


# -- control endpoints (hooked into server.CONTROL_ROUTES) -------------------------------------------
def _control_stock(server: Any, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    """GET /_sandbox/shops/<shop>/inventory: variants with their levels, locations, set calls."""
    state = server.state
    with state.lock:
        inventory = inventory_for(state, shop)
        return 200, {
            "locations": sorted(inventory.locations.values(), key=lambda x: x["id"]),
            "variants": [
                {**v, "levels": {str(loc): inventory.levels.get((v["item_id"], loc)) for loc in inventory.locations}}
                for v in sorted(inventory.variants.values(), key=lambda v: v["id"])
            ],
            "set_calls": [dict(c) for c in inventory.set_calls],
        }


def _control_add_variants(server: Any, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    """POST /_sandbox/shops/<shop>/inventory {"skus": [...], "tracked": true, "stocked": true}."""
    skus = body.get("skus")
    if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
        raise ValueError("skus must be a list of strings")
    added = SandboxInventory(server.state).add_variants(
        shop, skus, tracked=bool(body.get("tracked", True)), stocked=bool(body.get("stocked", True))
    )
    return 201, {"variants": added}


def control_routes(shop_pattern: str) -> list[tuple[str, re.Pattern[str], Any]]:
    return [
        ("GET", re.compile(f"^{shop_pattern}/inventory/?$"), _control_stock),
        ("POST", re.compile(f"^{shop_pattern}/inventory/?$"), _control_add_variants),
    ]
