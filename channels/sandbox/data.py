"""Sandbox orders: realistic random generation, one canonical form, two renderings.

The canonical order is a plain dict with snake_case keys, datetimes (UTC, whole seconds) and
Decimals. `graphql_order_node` renders it as Shopify's Admin GraphQL `Order` (resolvable by
`graphql.project`), `rest_order` as the REST resource webhooks deliver. Totals and the
fulfilment status are derived, never stored twice, so the two shapes cannot disagree.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .graphql import GraphQLError

CENT = Decimal("0.01")

# sku, product title, variant title, price, grams
CATALOGUE: tuple[tuple[str, str, str | None, str, int], ...] = (
    ("TSHIRT-S-BLK", "T-Shirt", "S / Black", "24.95", 180),
    ("TSHIRT-M-BLK", "T-Shirt", "M / Black", "24.95", 200),
    ("TSHIRT-L-WHT", "T-Shirt", "L / White", "24.95", 220),
    ("HOODIE-M-GRY", "Hoodie", "M / Grey", "49.00", 650),
    ("HOODIE-L-NVY", "Hoodie", "L / Navy", "49.00", 700),
    ("MUG-WHT", "Mug", None, "12.50", 350),
    ("MUG-BLK", "Mug", "Black", "13.50", 350),
    ("CAP-NVY", "Cap", "Navy", "19.00", 120),
    ("TOTE-NAT", "Tote Bag", "Natural", "15.00", 150),
    ("POSTER-A2", "Poster", "A2", "22.00", 200),
    ("STICKER-PACK", "Sticker Pack", None, "6.00", 20),
    ("SOCKS-M-STR", "Socks", "M / Striped", "9.50", 80),
    ("BEANIE-RED", "Beanie", "Red", "18.00", 100),
    ("NOTEBOOK-A5", "Notebook", "A5 / Dotted", "11.00", 250),
    ("BOTTLE-750", "Water Bottle", "750 ml", "27.00", 400),
)
# Variants of one product share its id.
PRODUCT_IDS = {title: 8_800_000_000 + i for i, title in enumerate(dict.fromkeys(p[1] for p in CATALOGUE))}
FIRST_NAMES = (
    "Ana",
    "Bo",
    "Carla",
    "Dmitri",
    "Elif",
    "Farah",
    "Gustavo",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sven",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Lopez",
    "Chen",
    "Novak",
    "Okafor",
    "Schmidt",
    "Silva",
    "Tanaka",
    "Moreau",
    "Kowalski",
    "Haddad",
    "Johansson",
    "Rossi",
    "Nguyen",
    "Patel",
    "Murphy",
    "Costa",
    "Fischer",
    "Kim",
)
STREETS = (
    "Main St",
    "Elm St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "Pine St",
    "Lake Rd",
    "Hill St",
    "Park Ave",
    "River Rd",
    "2nd St",
    "Sunset Blvd",
)
# city, province, province code, zip prefix, country, country code, phone prefix, lat, lng
CITIES = (
    ("Austin", "Texas", "TX", "787", "United States", "US", "+1512", 30.26, -97.74),
    ("Denver", "Colorado", "CO", "802", "United States", "US", "+1303", 39.74, -104.99),
    ("Portland", "Oregon", "OR", "972", "United States", "US", "+1503", 45.52, -122.68),
    ("Chicago", "Illinois", "IL", "606", "United States", "US", "+1312", 41.88, -87.63),
    ("Brooklyn", "New York", "NY", "112", "United States", "US", "+1718", 40.68, -73.94),
    ("Miami", "Florida", "FL", "331", "United States", "US", "+1305", 25.76, -80.19),
    ("Seattle", "Washington", "WA", "981", "United States", "US", "+1206", 47.61, -122.33),
    ("Toronto", "Ontario", "ON", "M5V", "Canada", "CA", "+1416", 43.65, -79.38),
    ("Vancouver", "British Columbia", "BC", "V6B", "Canada", "CA", "+1604", 49.28, -123.12),
)
CARRIERS = {
    "UPS": "https://www.ups.com/track?tracknum={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}",
}
TAGS = ("vip", "wholesale", "gift", "repeat", "promo", "instagram")
FINANCIAL_STATUSES = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
)
CANCEL_REASONS = ("customer", "fraud", "inventory", "declined", "other", "staff")
SHIPMENT_STATUSES = (
    None,
    "label_printed",
    "confirmed",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "failure",
    "attempted_delivery",
    "ready_for_pickup",
)


# -- formatting ------------------------------------------------------------------------------
def utc_z(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def with_offset(value: datetime | None, offset: timedelta) -> str | None:
    return value.astimezone(timezone(offset)).isoformat() if value else None


def gql_decimal(amount: Decimal) -> str:
    """Shopify's GraphQL Decimal: "49.9", "0.0", "24.95"."""
    text = format(amount.normalize(), "f")
    return text if "." in text else text + ".0"


def rest_decimal(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def now_seconds(clock_value: datetime) -> datetime:
    return clock_value.astimezone(UTC).replace(microsecond=0)


# -- derived values --------------------------------------------------------------------------
def totals(order: Mapping[str, Any]) -> dict[str, Decimal]:
    subtotal = sum((li["price"] * li["current_quantity"] for li in order["line_items"]), Decimal("0"))
    discount = min(order["discount"], subtotal)
    tax = ((subtotal - discount) * order["tax_rate"]).quantize(CENT, ROUND_HALF_UP)
    shipping = order["shipping_price"]
    return {
        "subtotal": subtotal,
        "discount": discount,
        "tax": tax,
        "shipping": shipping,
        "total": subtotal - discount + shipping + tax,
        "line_items": sum((li["price"] * li["quantity"] for li in order["line_items"]), Decimal("0")),
    }


def live_fulfillments(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [f for f in order["fulfillments"] if f["status"] == "success"]


def fulfilled_quantities(order: Mapping[str, Any]) -> dict[int, int]:
    done: dict[int, int] = {}
    for f in live_fulfillments(order):
        for line_id, quantity in f["line_items"].items():
            done[line_id] = done.get(line_id, 0) + quantity
    return done


def fulfillment_status(order: Mapping[str, Any]) -> str | None:
    """REST vocabulary: None (unfulfilled), "partial" or "fulfilled"."""
    done = fulfilled_quantities(order)
    wanted = {li["id"]: li["current_quantity"] for li in order["line_items"] if li["current_quantity"]}
    if not any(done.values()):
        return None
    if all(done.get(line_id, 0) >= quantity for line_id, quantity in wanted.items()):
        return "fulfilled"
    return "partial"


# Fulfilment orders are derived, never stored: the sandbox has one location, so an order has one
# fulfilment order holding each line's quantity less what live fulfilments already carry. Their
# ids are fixed offsets of the order's and lines' ids: stable, and distinct from the ids beside them
# (a client that sends a LineItem id where a FulfillmentOrderLineItem id belongs is refused).
FULFILLMENT_ORDER_OFFSET = 1_000_000_000_000
FULFILLMENT_ORDER_LINE_OFFSET = 2_000_000_000_000
LOCATION_ID = 61_000_000_000


def fulfillment_orders(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """[{"id", "order_id", "status", "line_items": [{"id", "line_item_id", "total_quantity",
    "remaining_quantity"}]}]; status in Shopify's FulfillmentOrderStatus vocabulary."""
    done = fulfilled_quantities(order)
    lines = [
        {
            "id": li["id"] + FULFILLMENT_ORDER_LINE_OFFSET,
            "line_item_id": li["id"],
            "total_quantity": li["current_quantity"],
            "remaining_quantity": max(li["current_quantity"] - done.get(li["id"], 0), 0),
        }
        for li in sorted(order["line_items"], key=lambda li: li["id"])
        if li["current_quantity"] > 0
    ]
    remaining = sum(fl["remaining_quantity"] for fl in lines)
    if order["cancelled_at"] is not None or remaining == 0:
        status = "CLOSED"
    elif any(done.values()):
        status = "IN_PROGRESS"
    else:
        status = "OPEN"
    return [
        {"id": order["id"] + FULFILLMENT_ORDER_OFFSET, "order_id": order["id"], "status": status, "line_items": lines}
    ]


def order_id_of_fulfillment_order(fulfillment_order_id: int) -> int:
    return fulfillment_order_id - FULFILLMENT_ORDER_OFFSET


# -- generation ------------------------------------------------------------------------------
class OrderFactory:
    """Makes canonical orders from a seeded Random. Not thread-safe: the state calls it under
    its lock."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._order_id = 5_550_000_000_000 + rng.randint(1, 99_999) * 1000
        self._line_id = 13_500_000_000_000 + rng.randint(1, 99_999) * 1000
        self._fulfillment_id = 4_800_000_000_000 + rng.randint(1, 99_999) * 100
        self._customer_id = 7_100_000_000_000 + rng.randint(1, 99_999) * 100

    def next_order_id(self) -> int:
        self._order_id += self.rng.randint(3, 40)
        return self._order_id

    def next_line_id(self) -> int:
        self._line_id += self.rng.randint(1, 3)
        return self._line_id

    def next_fulfillment_id(self) -> int:
        self._fulfillment_id += self.rng.randint(1, 5)
        return self._fulfillment_id

    def customer(self, existing: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if existing and self.rng.random() < 0.3:  # repeat buyers
            return dict(self.rng.choice(existing))
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        self._customer_id += self.rng.randint(1, 50)
        email_name = f"{first}.{last}".lower().replace("á", "a").replace("é", "e").replace("ó", "o")
        return {
            "id": self._customer_id,
            "first_name": first,
            "last_name": last,
            "email": f"{email_name}{self.rng.randint(1, 999)}@example.com",
            "phone": None if self.rng.random() < 0.6 else f"+1555{self.rng.randint(1000000, 9999999)}",
        }

    def address(self, first_name: str, last_name: str) -> dict[str, Any]:
        city, province, code, zip_prefix, country, country_code, phone_prefix, lat, lng = self.rng.choice(CITIES)
        if country_code == "US":
            postcode = f"{zip_prefix}{self.rng.randint(0, 99):02d}"
        else:  # Canadian FSA + LDU, "M5V 3L9"
            letter = chr(65 + self.rng.randint(0, 25))
            postcode = f"{zip_prefix} {self.rng.randint(1, 9)}{letter}{self.rng.randint(1, 9)}"
        return {
            "first_name": first_name,
            "last_name": last_name,
            "name": f"{first_name} {last_name}",
            "company": None if self.rng.random() < 0.85 else f"{last_name} {self.rng.choice(('Ltd', 'LLC', 'Studio'))}",
            "address1": f"{self.rng.randint(1, 9800)} {self.rng.choice(STREETS)}",
            "address2": "" if self.rng.random() < 0.75 else f"Unit {self.rng.randint(1, 40)}",
            "city": city,
            "province": province,
            "province_code": code,
            "zip": postcode,
            "country": country,
            "country_code": country_code,
            "phone": None if self.rng.random() < 0.3 else f"{phone_prefix}555{self.rng.randint(1000, 9999)}",
            "latitude": round(lat + self.rng.uniform(-0.05, 0.05), 4),
            "longitude": round(lng + self.rng.uniform(-0.05, 0.05), 4),
        }

    def line_items(self, count: int | None, explicit: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        if explicit is not None:
            specs = [dict(spec) for spec in explicit]
        else:
            n = count if count is not None else self.rng.choices((1, 2, 3, 4), weights=(50, 28, 14, 8))[0]
            if n <= len(CATALOGUE):
                products = self.rng.sample(CATALOGUE, n)
            else:  # big wholesale orders repeat SKUs on separate lines
                products = [CATALOGUE[(i + self.rng.randint(0, 1)) % len(CATALOGUE)] for i in range(n)]
            specs = [{"sku": p[0]} for p in products]
        by_sku = {p[0]: p for p in CATALOGUE}
        lines = []
        for spec in specs:
            product = by_sku.get(spec.get("sku", ""))
            sku = spec.get("sku") or (product[0] if product else f"SKU-{self.rng.randint(100, 999)}")
            title = spec.get("title") or (product[1] if product else sku.title())
            index = CATALOGUE.index(product) if product else 90 + len(lines)
            quantity = int(spec.get("quantity") or self.rng.choices((1, 2, 3, 5), weights=(70, 20, 7, 3))[0])
            lines.append(
                {
                    "id": self.next_line_id(),
                    "product_id": PRODUCT_IDS.get(title, 8_800_000_000 + index),
                    "variant_id": 44_000_000_000 + index,
                    "sku": sku,
                    "title": title,
                    "variant_title": spec.get("variant_title", product[2] if product else None),
                    "vendor": "Fenicia Demo",
                    "quantity": quantity,
                    "current_quantity": quantity,
                    "price": Decimal(str(spec.get("price") or (product[3] if product else "10.00"))).quantize(CENT),
                    "grams": product[4] if product else 100,
                    "requires_shipping": True,
                    "taxable": True,
                }
            )
        return lines

    def tracking(self, company: str | None = None) -> tuple[str, str, str]:
        company = company or self.rng.choice(tuple(CARRIERS))
        if company == "UPS":
            number = "1Z" + "".join(self.rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
        elif company == "USPS":
            number = "9400" + "".join(self.rng.choice("0123456789") for _ in range(18))
        elif company == "FedEx":
            number = "".join(self.rng.choice("0123456789") for _ in range(12))
        else:
            number = "".join(self.rng.choice("0123456789") for _ in range(10))
        url = CARRIERS.get(company, "https://track.example.com/{}").format(number)
        return company, number, url

    def fulfillment(
        self, order: Mapping[str, Any], when: datetime, spec: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A successful fulfilment of `spec["line_items"]` ({line id: quantity} or [line ids]) or,
        by default, of everything still unfulfilled."""
        spec = dict(spec or {})
        done = fulfilled_quantities(order)
        wanted = spec.get("line_items")
        if wanted is None:
            items = {li["id"]: li["current_quantity"] - done.get(li["id"], 0) for li in order["line_items"]}
        elif isinstance(wanted, Mapping):
            items = {int(k): int(v) for k, v in wanted.items()}
        else:
            quantities = {li["id"]: li["current_quantity"] - done.get(li["id"], 0) for li in order["line_items"]}
            items = {int(k): quantities.get(int(k), 0) for k in wanted}
        company, number, url = self.tracking(spec.get("tracking_company"))
        number = spec.get("tracking_number") or number
        if spec.get("tracking_number") and not spec.get("tracking_url"):
            url = CARRIERS.get(company, "https://track.example.com/{}").format(number)
        return {
            "id": self.next_fulfillment_id(),
            "created_at": when,
            "updated_at": when,
            "status": spec.get("status", "success"),
            "shipment_status": spec.get("shipment_status"),
            "tracking_company": company,
            "tracking_number": number,
            "tracking_url": spec.get("tracking_url") or url,
            "line_items": {k: v for k, v in items.items() if v > 0},
        }

    def order(
        self,
        *,
        number: int,
        now: datetime,
        customers: Sequence[dict[str, Any]],
        currency: str,
        line_count: int | None = None,
        lines: Sequence[Mapping[str, Any]] | None = None,
        spread_days: float = 0,
    ) -> dict[str, Any]:
        rng = self.rng
        created = now - timedelta(seconds=rng.randint(0, int(spread_days * 86400))) if spread_days else now
        age = now - created
        updated = created + timedelta(seconds=rng.randint(0, int(age.total_seconds()))) if age else created
        customer = self.customer(customers)
        shipping_address = self.address(customer["first_name"], customer["last_name"])
        billing_address = (
            dict(shipping_address)
            if rng.random() < 0.8
            else self.address(customer["first_name"], customer["last_name"])
        )
        items = self.line_items(line_count, lines)
        subtotal = sum((li["price"] * li["quantity"] for li in items), Decimal("0"))
        tags = sorted(rng.sample(TAGS, rng.choices((0, 1, 2), weights=(60, 30, 10))[0]))
        discount = (subtotal * Decimal("0.10")).quantize(CENT) if "promo" in tags else Decimal("0")
        financial = rng.choices(
            ("paid", "pending", "authorized", "partially_refunded", "refunded"), weights=(78, 8, 8, 3, 3)
        )[0]
        order = {
            "id": self.next_order_id(),
            "number": number,
            "name": f"#{number}",
            "email": customer["email"],
            "phone": customer["phone"],
            "created_at": created,
            "updated_at": updated,
            "processed_at": created,
            "cancelled_at": None,
            "cancel_reason": None,
            "closed_at": None,
            "financial_status": financial,
            "fulfillment_status": None,
            "currency": currency,
            "note": rng.choice((None, None, None, "gift wrap", "leave at the door", "please ship together")),
            "tags": tags,
            "test": False,
            "source_name": rng.choice(("web", "web", "web", "pos", "shopify_draft_order")),
            "confirmation_number": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9)),
            "browser_ip": f"203.0.113.{rng.randint(1, 254)}",
            "customer": customer,
            "shipping_address": shipping_address,
            "billing_address": billing_address,
            "line_items": items,
            "shipping_line_id": self.next_line_id(),
            "shipping_title": "Free shipping" if subtotal >= 75 else rng.choice(("Standard", "Express")),
            "shipping_price": Decimal("0.00") if subtotal >= 75 else Decimal(rng.choice(("6.90", "10.00", "14.50"))),
            "discount": discount,
            "discount_code": "WELCOME10" if discount else None,
            "tax_rate": Decimal(rng.choice(("0", "0.0625", "0.08", "0.13"))),
            "fulfillments": [],
        }
        # Older orders have usually moved on by the time the sandbox starts.
        if age > timedelta(days=1) and financial == "paid" and rng.random() < 0.6:
            shipped = created + (updated - created) / 2
            order["fulfillments"].append(
                self.fulfillment(
                    order, shipped, {"shipment_status": rng.choice(("in_transit", "delivered", "delivered"))}
                )
            )
        refresh_derived(order)
        return order


def refresh_derived(order: dict[str, Any]) -> None:
    order["fulfillment_status"] = fulfillment_status(order)


# -- GraphQL rendering -----------------------------------------------------------------------
def _money_bag(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"__typename": "MoneyV2", "amount": gql_decimal(amount), "currencyCode": currency}
    return {"__typename": "MoneyBag", "shopMoney": money, "presentmentMoney": dict(money)}


def _gql_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "__typename": "MailingAddress",
        "name": address["name"],
        "firstName": address["first_name"],
        "lastName": address["last_name"],
        "company": address["company"],
        "address1": address["address1"],
        "address2": address["address2"],
        "city": address["city"],
        "province": address["province"],
        "provinceCode": address["province_code"],
        "zip": address["zip"],
        "country": address["country"],
        "countryCodeV2": address["country_code"],
        "phone": address["phone"],
        "latitude": address["latitude"],
        "longitude": address["longitude"],
        "formatted": [
            p
            for p in (address["address1"], address["address2"], address["city"], address["zip"], address["country"])
            if p
        ],
    }


def _first(items: list[Any], args: Mapping[str, Any]) -> list[Any]:
    first = args.get("first")
    return items[:first] if isinstance(first, int) else items


def _line_node(line: Mapping[str, Any], currency: str, fulfilled: int) -> dict[str, Any]:
    return {
        "__typename": "LineItem",
        "id": gid("LineItem", line["id"]),
        "sku": line["sku"],
        "title": line["title"],
        "variantTitle": line["variant_title"],
        "name": f"{line['title']} - {line['variant_title']}" if line["variant_title"] else line["title"],
        "vendor": line["vendor"],
        "quantity": line["quantity"],
        "currentQuantity": line["current_quantity"],
        "unfulfilledQuantity": max(line["current_quantity"] - fulfilled, 0),
        "requiresShipping": line["requires_shipping"],
        "taxable": line["taxable"],
        "originalUnitPriceSet": _money_bag(line["price"], currency),
        "discountedUnitPriceSet": _money_bag(line["price"], currency),
        "originalTotalSet": _money_bag(line["price"] * line["quantity"], currency),
    }


SHIPMENT_DISPLAY = {
    None: "FULFILLED",
    "delivered": "DELIVERED",
    "in_transit": "IN_TRANSIT",
    "out_for_delivery": "OUT_FOR_DELIVERY",
    "attempted_delivery": "ATTEMPTED_DELIVERY",
    "failure": "FAILED_DELIVERY",
    "label_printed": "LABEL_PRINTED",
    "confirmed": "CONFIRMED",
    "ready_for_pickup": "READY_FOR_PICKUP",
}


def _fulfillment_node(order: Mapping[str, Any], index: int, f: Mapping[str, Any]) -> dict[str, Any]:
    tracking = (
        [
            {
                "__typename": "FulfillmentTrackingInfo",
                "company": f["tracking_company"],
                "number": f["tracking_number"],
                "url": f["tracking_url"],
            }
        ]
        if f["tracking_number"]
        else []
    )
    cancelled = f["status"] != "success"
    return {
        "__typename": "Fulfillment",
        "id": gid("Fulfillment", f["id"]),
        "legacyResourceId": str(f["id"]),
        "name": f"{order['name']}-F{index}",
        "status": f["status"].upper(),
        "displayStatus": "CANCELED" if cancelled else SHIPMENT_DISPLAY.get(f["shipment_status"], "FULFILLED"),
        "createdAt": utc_z(f["created_at"]),
        "updatedAt": utc_z(f["updated_at"]),
        "deliveredAt": utc_z(f["updated_at"]) if f["shipment_status"] == "delivered" else None,
        "trackingInfo": lambda args: _first(tracking, args),
        "fulfillmentLineItems": lambda args: _fulfillment_line_connection(order, f, args),
    }


def _key_cursor(item: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps({"last_id": item["_key"]}).encode()).decode()


def _key_uncursor(cursor: str) -> Any:
    try:
        return json.loads(base64.b64decode(cursor.encode(), validate=True))["last_id"]
    except (ValueError, TypeError, KeyError) as exc:
        raise GraphQLError(f"Invalid cursor: {cursor!r}", code="BAD_REQUEST") from exc


def _fulfillment_line_connection(order: Mapping[str, Any], f: Mapping[str, Any], args: Mapping[str, Any]) -> dict:
    done = fulfilled_quantities(order)
    lines = {li["id"]: li for li in order["line_items"]}
    items = [
        {
            "_key": line_id,
            "_node": {
                "__typename": "FulfillmentLineItem",
                "id": gid("FulfillmentLineItem", f["id"] * 1000 + position),
                "quantity": quantity,
                "lineItem": _line_node(lines[line_id], order["currency"], done.get(line_id, 0)),
            },
        }
        for position, (line_id, quantity) in enumerate(sorted(f["line_items"].items()), start=1)
        if line_id in lines
    ]
    return _connection(items, args, "FulfillmentLineItem", _key_cursor, _key_uncursor)


def graphql_fulfillment_node(order: Mapping[str, Any], fulfillment_id: int) -> dict[str, Any]:
    """One of the order's fulfilments as the GraphQL `Fulfillment` (mutation payloads)."""
    for index, f in enumerate(order["fulfillments"], start=1):
        if f["id"] == fulfillment_id:
            return _fulfillment_node(order, index, f)
    raise KeyError(fulfillment_id)


def graphql_fulfillment_order_node(order: Mapping[str, Any], fo: Mapping[str, Any]) -> dict[str, Any]:
    """A derived fulfilment order (see `fulfillment_orders`) as the GraphQL `FulfillmentOrder`."""
    done = fulfilled_quantities(order)
    lines = {li["id"]: li for li in order["line_items"]}
    open_ = fo["status"] in ("OPEN", "IN_PROGRESS")
    items = [
        {
            "_key": fl["id"],
            "_node": {
                "__typename": "FulfillmentOrderLineItem",
                "id": gid("FulfillmentOrderLineItem", fl["id"]),
                "totalQuantity": fl["total_quantity"],
                "remainingQuantity": fl["remaining_quantity"],
                "sku": lines[fl["line_item_id"]]["sku"],
                "productTitle": lines[fl["line_item_id"]]["title"],
                "variantTitle": lines[fl["line_item_id"]]["variant_title"],
                "requiresShipping": lines[fl["line_item_id"]]["requires_shipping"],
                "lineItem": _line_node(lines[fl["line_item_id"]], order["currency"], done.get(fl["line_item_id"], 0)),
            },
        }
        for fl in fo["line_items"]
    ]
    return {
        "__typename": "FulfillmentOrder",
        "id": gid("FulfillmentOrder", fo["id"]),
        "status": fo["status"],
        "requestStatus": "UNSUBMITTED",
        "orderId": gid("Order", order["id"]),
        "orderName": order["name"],
        "createdAt": utc_z(order["created_at"]),
        "updatedAt": utc_z(order["updated_at"]),
        "assignedLocation": {
            "__typename": "FulfillmentOrderAssignedLocation",
            "name": "Sandbox Warehouse",
            "location": {"__typename": "Location", "id": gid("Location", LOCATION_ID), "name": "Sandbox Warehouse"},
        },
        "supportedActions": [
            {"__typename": "FulfillmentOrderSupportedAction", "action": action}
            for action in (("CREATE_FULFILLMENT", "HOLD", "MOVE") if open_ else ())
        ],
        "lineItems": lambda args: _connection(items, args, "FulfillmentOrderLineItem", _key_cursor, _key_uncursor),
    }


def fulfillment_order_connection(order: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    items = [
        {"_key": fo["id"], "_node": (lambda fo=fo: graphql_fulfillment_order_node(order, fo))}
        for fo in fulfillment_orders(order)
    ]
    return _connection(items, args, "FulfillmentOrder", _key_cursor, _key_uncursor)


def _connection(
    items: list[dict[str, Any]], args: Mapping[str, Any], typename: str, encode: Any, decode: Any
) -> dict[str, Any]:
    """A page of `items` (sorted by their `_key`); `after`/`before` cursors come from `encode(item)`."""
    lo, hi = 0, len(items)
    if args.get("after"):
        key = decode(args["after"])
        lo = next((i for i, item in enumerate(items) if item["_key"] > key), len(items))
    if args.get("before"):
        key = decode(args["before"])
        hi = max(lo, next((i for i, item in enumerate(items) if item["_key"] >= key), len(items)))
    if isinstance(args.get("first"), int):
        hi = min(hi, lo + args["first"])
    elif isinstance(args.get("last"), int):
        lo = max(lo, hi - args["last"])
    window = items[lo:hi]
    nodes = [item["_node"]() if callable(item["_node"]) else item["_node"] for item in window]  # built lazily
    edges = [
        {"__typename": f"{typename}Edge", "cursor": encode(item), "node": node}
        for item, node in zip(window, nodes, strict=True)
    ]
    return {
        "__typename": f"{typename}Connection",
        "nodes": nodes,
        "edges": edges,
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": hi < len(items),
            "hasPreviousPage": lo > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def graphql_order_node(order: Mapping[str, Any], *, line_connection: Any) -> dict[str, Any]:
    """The Order object; `line_connection(order, args)` pages its line items (cursors are the
    API's business, so the caller supplies it)."""
    currency = order["currency"]
    t = totals(order)
    customer = order["customer"]
    financial = order["financial_status"].upper()
    fulfillment = {None: "UNFULFILLED", "partial": "PARTIALLY_FULFILLED", "fulfilled": "FULFILLED"}[
        order["fulfillment_status"]
    ]
    fulfillments = [_fulfillment_node(order, i, f) for i, f in enumerate(order["fulfillments"], start=1)]
    return {
        "__typename": "Order",
        "id": gid("Order", order["id"]),
        "legacyResourceId": str(order["id"]),
        "name": order["name"],
        "confirmationNumber": order["confirmation_number"],
        "sourceName": order["source_name"],
        "createdAt": utc_z(order["created_at"]),
        "updatedAt": utc_z(order["updated_at"]),
        "processedAt": utc_z(order["processed_at"]),
        "cancelledAt": utc_z(order["cancelled_at"]),
        "cancelReason": order["cancel_reason"].upper() if order["cancel_reason"] else None,
        "closed": order["closed_at"] is not None,
        "closedAt": utc_z(order["closed_at"]),
        "confirmed": True,
        "fullyPaid": financial == "PAID",
        "displayFinancialStatus": financial,
        "displayFulfillmentStatus": fulfillment,
        "currencyCode": currency,
        "presentmentCurrencyCode": currency,
        "email": order["email"],
        "phone": order["phone"],
        "note": order["note"],
        "tags": list(order["tags"]),
        "test": order["test"],
        "discountCode": order["discount_code"],
        "subtotalPriceSet": _money_bag(t["subtotal"], currency),
        "currentSubtotalPriceSet": _money_bag(t["subtotal"], currency),
        "totalPriceSet": _money_bag(t["total"], currency),
        "currentTotalPriceSet": _money_bag(t["total"], currency),
        "totalTaxSet": _money_bag(t["tax"], currency),
        "currentTotalTaxSet": _money_bag(t["tax"], currency),
        "totalShippingPriceSet": _money_bag(t["shipping"], currency),
        "totalDiscountsSet": _money_bag(t["discount"], currency),
        "subtotalLineItemsQuantity": sum(li["current_quantity"] for li in order["line_items"]),
        "customer": {
            "__typename": "Customer",
            "id": gid("Customer", customer["id"]),
            "legacyResourceId": str(customer["id"]),
            "firstName": customer["first_name"],
            "lastName": customer["last_name"],
            "displayName": f"{customer['first_name']} {customer['last_name']}",
            "email": customer["email"],
            "phone": customer["phone"],
        }
        if customer
        else None,
        "shippingAddress": _gql_address(order["shipping_address"]),
        "billingAddress": _gql_address(order["billing_address"]),
        "lineItems": lambda args: line_connection(order, args),
        "fulfillments": lambda args: _first(fulfillments, args),
    }


def line_item_connection(
    order: Mapping[str, Any], args: Mapping[str, Any], *, encode: Any, decode: Any
) -> dict[str, Any]:
    done = fulfilled_quantities(order)
    items = [
        {"_key": li["id"], "_node": _line_node(li, order["currency"], done.get(li["id"], 0))}
        for li in sorted(order["line_items"], key=lambda li: li["id"])
    ]
    return _connection(items, args, "LineItem", encode, decode)


def order_connection(
    keyed_nodes: list[tuple[Any, dict[str, Any]]], args: Mapping[str, Any], *, encode: Any, decode: Any
) -> dict[str, Any]:
    """`keyed_nodes`: (sort key, order node or a function building it) in the requested order."""
    items = [{"_key": key, "_node": node} for key, node in keyed_nodes]
    return _connection(items, args, "Order", encode, decode)


# -- REST rendering (webhook bodies) --------------------------------------------------------
def _rest_money_set(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"amount": rest_decimal(amount), "currency_code": currency}
    return {"shop_money": money, "presentment_money": dict(money)}


def _rest_line(line: Mapping[str, Any], currency: str, fulfilled: int) -> dict[str, Any]:
    remaining = max(line["current_quantity"] - fulfilled, 0)
    return {
        "id": line["id"],
        "admin_graphql_api_id": gid("LineItem", line["id"]),
        "current_quantity": line["current_quantity"],
        "fulfillable_quantity": remaining,
        "fulfillment_service": "manual",
        "fulfillment_status": None if fulfilled == 0 else ("fulfilled" if remaining == 0 else "partial"),
        "gift_card": False,
        "grams": line["grams"],
        "name": f"{line['title']} - {line['variant_title']}" if line["variant_title"] else line["title"],
        "price": rest_decimal(line["price"]),
        "price_set": _rest_money_set(line["price"], currency),
        "product_exists": True,
        "product_id": line["product_id"],
        "properties": [],
        "quantity": line["quantity"],
        "requires_shipping": line["requires_shipping"],
        "sku": line["sku"],
        "taxable": line["taxable"],
        "title": line["title"],
        "total_discount": "0.00",
        "total_discount_set": _rest_money_set(Decimal("0"), currency),
        "variant_id": line["variant_id"],
        "variant_inventory_management": "shopify",
        "variant_title": line["variant_title"],
        "vendor": line["vendor"],
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


def _rest_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(address) if address else None


def rest_order(order: Mapping[str, Any], *, offset: timedelta, app_id: int = 580111) -> dict[str, Any]:
    """The REST Order resource as an `orders/*` webhook delivers it; times in the shop's offset."""
    currency = order["currency"]
    t = totals(order)
    done = fulfilled_quantities(order)
    customer = order["customer"]
    lines_by_id = {li["id"]: li for li in order["line_items"]}

    def when(value: datetime | None) -> str | None:
        return with_offset(value, offset)

    fulfillments = []
    for index, f in enumerate(order["fulfillments"], start=1):
        fulfillments.append(
            {
                "id": f["id"],
                "admin_graphql_api_id": gid("Fulfillment", f["id"]),
                "created_at": when(f["created_at"]),
                "updated_at": when(f["updated_at"]),
                "location_id": 61_000_000_000,
                "name": f"{order['name']}.{index}",
                "order_id": order["id"],
                "origin_address": {},
                "receipt": {},
                "service": "manual",
                "shipment_status": f["shipment_status"],
                "status": f["status"],
                "tracking_company": f["tracking_company"],
                "tracking_number": f["tracking_number"],
                "tracking_numbers": [f["tracking_number"]] if f["tracking_number"] else [],
                "tracking_url": f["tracking_url"],
                "tracking_urls": [f["tracking_url"]] if f["tracking_url"] else [],
                "line_items": [
                    dict(_rest_line(lines_by_id[line_id], currency, done.get(line_id, 0)), quantity=quantity)
                    for line_id, quantity in f["line_items"].items()
                    if line_id in lines_by_id
                ],
            }
        )
    return {
        "id": order["id"],
        "admin_graphql_api_id": gid("Order", order["id"]),
        "app_id": app_id,
        "browser_ip": order["browser_ip"],
        "buyer_accepts_marketing": False,
        "cancel_reason": order["cancel_reason"],
        "cancelled_at": when(order["cancelled_at"]),
        "closed_at": when(order["closed_at"]),
        "confirmation_number": order["confirmation_number"],
        "confirmed": True,
        "contact_email": order["email"],
        "created_at": when(order["created_at"]),
        "currency": currency,
        "current_subtotal_price": rest_decimal(t["subtotal"]),
        "current_subtotal_price_set": _rest_money_set(t["subtotal"], currency),
        "current_total_discounts": rest_decimal(t["discount"]),
        "current_total_price": rest_decimal(t["total"]),
        "current_total_price_set": _rest_money_set(t["total"], currency),
        "current_total_tax": rest_decimal(t["tax"]),
        "current_total_tax_set": _rest_money_set(t["tax"], currency),
        "discount_codes": (
            [{"code": order["discount_code"], "amount": rest_decimal(t["discount"]), "type": "percentage"}]
            if order["discount_code"]
            else []
        ),
        "email": order["email"],
        "estimated_taxes": False,
        "financial_status": order["financial_status"],
        "fulfillment_status": order["fulfillment_status"],
        "landing_site": "/",
        "name": order["name"],
        "note": order["note"],
        "note_attributes": [],
        "number": order["number"] - 1000,
        "order_number": order["number"],
        "order_status_url": f"https://checkout.example.com/orders/{order['id']}/authenticate",
        "phone": order["phone"],
        "presentment_currency": currency,
        "processed_at": when(order["processed_at"]),
        "source_name": order["source_name"],
        "subtotal_price": rest_decimal(t["subtotal"]),
        "subtotal_price_set": _rest_money_set(t["subtotal"], currency),
        "tags": ", ".join(order["tags"]),
        "taxes_included": False,
        "test": order["test"],
        "total_discounts": rest_decimal(t["discount"]),
        "total_discounts_set": _rest_money_set(t["discount"], currency),
        "total_line_items_price": rest_decimal(t["line_items"]),
        "total_line_items_price_set": _rest_money_set(t["line_items"], currency),
        "total_outstanding": rest_decimal(
            t["total"] if order["financial_status"] in ("pending", "authorized") else Decimal("0")
        ),
        "total_price": rest_decimal(t["total"]),
        "total_price_set": _rest_money_set(t["total"], currency),
        "total_shipping_price_set": _rest_money_set(t["shipping"], currency),
        "total_tax": rest_decimal(t["tax"]),
        "total_tax_set": _rest_money_set(t["tax"], currency),
        "total_weight": sum(li["grams"] * li["current_quantity"] for li in order["line_items"]),
        "updated_at": when(order["updated_at"]),
        "billing_address": _rest_address(order["billing_address"]),
        "customer": {
            "id": customer["id"],
            "email": customer["email"],
            "first_name": customer["first_name"],
            "last_name": customer["last_name"],
            "phone": customer["phone"],
            "state": "enabled",
            "currency": currency,
            "tags": "",
            "verified_email": True,
            "admin_graphql_api_id": gid("Customer", customer["id"]),
        }
        if customer
        else None,
        "fulfillments": fulfillments,
        "line_items": [_rest_line(li, currency, done.get(li["id"], 0)) for li in order["line_items"]],
        "refunds": [],
        "shipping_address": _rest_address(order["shipping_address"]),
        "shipping_lines": [
            {
                "id": order["shipping_line_id"],
                "code": order["shipping_title"],
                "price": rest_decimal(t["shipping"]),
                "price_set": _rest_money_set(t["shipping"], currency),
                "discounted_price": rest_decimal(t["shipping"]),
                "source": "shopify",
                "title": order["shipping_title"],
                "tax_lines": [],
                "discount_allocations": [],
            }
        ],
    }
