"""Applying stock records set-based: map codes to products, upsert the stock levels, recompute
the products' totals, and queue the changed products for every channel that sells them.

Each step is a handful of statements whatever the file size — chunked lookups, multi-row
`INSERT ... ON CONFLICT DO UPDATE ... WHERE quantity changed RETURNING`, one `UPDATE ... FROM
(SELECT SUM ...) RETURNING` per chunk of changed products — so 100,000 rows cost a few dozen
queries, not 100,000. The same SQL runs on PostgreSQL and SQLite (3.35+: RETURNING, UPDATE
FROM); PostgreSQL gets arrays (`unnest`, `= ANY`) instead of long parameter lists.

Call everything here inside the caller's transaction: a crash half way leaves nothing applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.db import connection

from channels.adapters import ADAPTERS
from channels.adapters.base import Capability
from channels.models import Channel, ChannelStatus

from .models import (
    ChannelListing,
    ChannelStockSettings,
    InventorySource,
    MappingMode,
    Product,
    SkuMapping,
    StockLevel,
    StockPushPending,
)
from .readers.parsing import Invalid, Record

# SQLite 3.35+ (needed anyway for RETURNING) takes 32,766 parameters per statement.
LOOKUP_CHUNK = 5000
UPSERT_CHUNK = 5000  # rows per INSERT on SQLite (4 parameters each, limit 32,766)
LOAD_ALL_PRODUCTS_ABOVE = 2000  # codes in one run beyond which one scan of the catalogue is cheaper

Progress = Callable[[int], None]


@dataclass
class ApplyResult:
    records: int = 0
    changed_product_ids: list[int] = field(default_factory=list)  # a stock level inserted or changed
    available_changed_ids: list[int] = field(default_factory=list)  # the total changed
    unmapped: list[Record] = field(default_factory=list)
    push_channel_ids: list[int] = field(default_factory=list)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _chunks(values: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _stamp(value: datetime):
    """A datetime as the backend stores it (raw SQL skips the field's own conversion)."""
    return connection.ops.adapt_datetimefield_value(value)


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


# -- mapping ------------------------------------------------------------------------------------
def resolve_codes(source: InventorySource, codes: Sequence[str]) -> dict[str, int]:
    """External code -> product id. Explicit table entries win; in SKU mode the rest match our
    SKU exactly (SKUs are strings: "000123" is not "123")."""
    resolved: dict[str, int] = {}
    if SkuMapping.objects.filter(source=source).exists():
        for chunk in _chunks(codes, LOOKUP_CHUNK):
            resolved.update(
                SkuMapping.objects.filter(source=source, external_code__in=chunk).values_list(
                    "external_code", "product_id"
                )
            )
    if source.mapping_mode != MappingMode.SKU:
        return resolved
    missing = [code for code in codes if code not in resolved]
    if len(missing) > LOAD_ALL_PRODUCTS_ABOVE:
        wanted = set(missing)
        for sku, product_id in Product.objects.values_list("sku", "id").iterator(chunk_size=20_000):
            if sku in wanted:
                resolved[sku] = product_id
    else:
        for chunk in _chunks(missing, LOOKUP_CHUNK):
            resolved.update(Product.objects.filter(sku__in=chunk).values_list("sku", "id"))
    return resolved


# -- applying -----------------------------------------------------------------------------------
def apply_records(
    *,
    source: InventorySource,
    records: Sequence[Record],
    invalid: list[Invalid],
    now: datetime,
    progress: Progress | None = None,
) -> ApplyResult:
    """Set the source's stock level of every mapped record; codes we can't map are returned as
    unmapped, rows mapping onto a product already set by an earlier row are added to `invalid`.
    Products absent from `records` keep their levels: a file is not a deletion list."""
    result = ApplyResult(records=len(records))
    mapping = resolve_codes(source, [code for _, code, _ in records])
    product_rows: list[tuple[int, int]] = []
    first_line: dict[int, int] = {}
    for line, code, quantity in records:
        product_id = mapping.get(code)
        if product_id is None:
            result.unmapped.append((line, code, quantity))
            continue
        seen = first_line.get(product_id)
        if seen is not None:
            invalid.append((line, f"{code} maps to the same product as line {seen}; the first row was used"))
            continue
        first_line[product_id] = line
        product_rows.append((product_id, quantity))
    changed = upsert_levels(source_id=source.pk, rows=product_rows, now=now, progress=progress)
    result.changed_product_ids = changed
    result.available_changed_ids = recompute_available(changed, now=now)
    result.push_channel_ids = queue_pushes(result.available_changed_ids, now=now)
    return result


def upsert_levels(
    *, source_id: int, rows: Sequence[tuple[int, int]], now: datetime, progress: Progress | None = None
) -> list[int]:
    """Insert or update (product, source) levels; returns the products whose level was new or
    different. Unchanged levels are not rewritten (the WHERE on the conflict update)."""
    table = _q(StockLevel._meta.db_table)
    guard = f"WHERE {table}.{_q('quantity')} <> excluded.{_q('quantity')}"
    conflict = f"ON CONFLICT ({_q('product_id')}, {_q('source_id')}) DO UPDATE SET "
    conflict += f"{_q('quantity')} = excluded.{_q('quantity')}, {_q('updated_at')} = excluded.{_q('updated_at')} "
    columns = f"({_q('product_id')}, {_q('source_id')}, {_q('quantity')}, {_q('updated_at')})"
    changed: list[int] = []
    stamp = _stamp(now)
    with connection.cursor() as cursor:
        if _is_postgres():
            for chunk in _chunks(rows, 50_000):
                cursor.execute(
                    f"INSERT INTO {table} {columns} "  # noqa: S608 - names come from model metadata
                    f"SELECT p, %s, q, %s FROM unnest(%s::bigint[], %s::integer[]) AS t(p, q) "
                    f"{conflict}{guard} RETURNING {_q('product_id')}",
                    [source_id, stamp, [r[0] for r in chunk], [r[1] for r in chunk]],
                )
                changed.extend(row[0] for row in cursor.fetchall())
                if progress:
                    progress(len(chunk))
            return changed
        for chunk in _chunks(rows, UPSERT_CHUNK):
            params: list = []
            for product_id, quantity in chunk:
                params += (product_id, source_id, quantity, stamp)
            values = ",".join(["(%s,%s,%s,%s)"] * len(chunk))
            cursor.execute(
                f"INSERT INTO {table} {columns} VALUES {values} "  # noqa: S608
                f"{conflict}{guard} RETURNING {_q('product_id')}",
                params,
            )
            changed.extend(row[0] for row in cursor.fetchall())
            if progress:
                progress(len(chunk))
    return changed


def recompute_available(product_ids: Sequence[int], *, now: datetime) -> list[int]:
    """Set each product's `available` to the sum of its levels; returns those whose total
    actually changed (a level moving between sources can leave it as it was), and those that had
    no known stock before (their first 0 is news to the channels too)."""
    if not product_ids:
        return []
    product, level = _q(Product._meta.db_table), _q(StockLevel._meta.db_table)
    pid, avail = _q("product_id"), _q("available")
    changed: list[int] = []
    with connection.cursor() as cursor:
        size = 50_000 if _is_postgres() else LOOKUP_CHUNK
        for chunk in _chunks(list(product_ids), size):
            if _is_postgres():
                where, params = f"{pid} = ANY(%s)", [list(chunk)]
            else:
                where, params = f"{pid} IN ({','.join(['%s'] * len(chunk))})", list(chunk)
            cursor.execute(
                f"UPDATE {product} SET {avail} = t.total, {_q('available_changed_at')} = %s "  # noqa: S608
                f"FROM (SELECT {pid} AS pid, SUM({_q('quantity')}) AS total FROM {level} "
                f"WHERE {where} GROUP BY {pid}) AS t "
                f"WHERE {product}.{_q('id')} = t.pid "
                f"AND ({product}.{avail} <> t.total OR {product}.{_q('available_changed_at')} IS NULL) "
                f"RETURNING {product}.{_q('id')}",
                [_stamp(now), *params],
            )
            changed.extend(row[0] for row in cursor.fetchall())
    return changed


def recompute_available_all(product_ids: Sequence[int], *, now: datetime) -> list[int]:
    """Like recompute_available, but products left with no level at all drop to 0 (a source
    was deleted)."""
    changed = recompute_available(product_ids, now=now)
    with_levels: set[int] = set()
    for chunk in _chunks(list(product_ids), LOOKUP_CHUNK):
        with_levels.update(StockLevel.objects.filter(product_id__in=chunk).values_list("product_id", flat=True))
    orphans = [p for p in product_ids if p not in with_levels]
    for chunk in _chunks(orphans, LOOKUP_CHUNK):
        ids = list(Product.objects.filter(id__in=chunk).exclude(available=0).values_list("id", flat=True))
        Product.objects.filter(id__in=ids).update(available=0, available_changed_at=now)
        changed.extend(ids)
    return changed


# -- who sells what -----------------------------------------------------------------------------
def push_capable_kinds() -> list[str]:
    return [kind for kind, cls in ADAPTERS.items() if Capability.PUSH_STOCK in getattr(cls, "capabilities", ())]


def queue_pushes(product_ids: Sequence[int], *, now: datetime, channel_id: int | None = None) -> list[int]:
    """Put (channel, product) in the push outbox for every channel that sells the product and can
    take stock: a channel sells a SKU when one of its orders has a line with that SKU, or when
    an explicit listing says so. Returns the channels that got work.

    Order lines belong to `orders`, which sits above this app: they are read by table name
    through the app registry (no import), the one place inventory looks up."""
    kinds = push_capable_kinds()
    if not product_ids or not kinds:
        return []
    order_line = apps.get_model("orders", "OrderLine")
    order = apps.get_model("orders", "Order")
    q = _q
    product, channel = q(Product._meta.db_table), q(Channel._meta.db_table)
    line_t, order_t = q(order_line._meta.db_table), q(order._meta.db_table)
    listing, settings_t = q(ChannelListing._meta.db_table), q(ChannelStockSettings._meta.db_table)
    pending = q(StockPushPending._meta.db_table)
    kind_marks = ",".join(["%s"] * len(kinds))
    channel_filter = f"AND c.{q('id')} = %s " if channel_id is not None else ""
    channels: set[int] = set()
    with connection.cursor() as cursor:
        size = 20_000 if _is_postgres() else LOOKUP_CHUNK
        for chunk in _chunks(list(product_ids), size):
            if _is_postgres():
                product_filter, product_params = f"p.{q('id')} = ANY(%s)", [list(chunk)]
            else:
                product_filter = f"p.{q('id')} IN ({','.join(['%s'] * len(chunk))})"
                product_params = list(chunk)
            sql = (
                f"INSERT INTO {pending} ({q('channel_id')}, {q('product_id')}, {q('requested_at')}, "  # noqa: S608
                f"{q('lease_until')}, {q('attempts')}) "
                f"SELECT c.{q('id')}, p.{q('id')}, %s, NULL, 0 FROM {product} p CROSS JOIN {channel} c "
                f"LEFT JOIN {settings_t} s ON s.{q('channel_id')} = c.{q('id')} "
                f"WHERE {product_filter} AND c.{q('kind')} IN ({kind_marks}) AND c.{q('status')} <> %s "
                f"{channel_filter}AND (s.{q('id')} IS NULL OR s.{q('push_enabled')} = %s) AND ("
                f"EXISTS (SELECT 1 FROM {line_t} l JOIN {order_t} o ON o.{q('id')} = l.{q('order_id')} "
                f"WHERE l.{q('sku')} = p.{q('sku')} AND o.{q('channel_id')} = c.{q('id')}) "
                f"OR EXISTS (SELECT 1 FROM {listing} cl WHERE cl.{q('product_id')} = p.{q('id')} "
                f"AND cl.{q('channel_id')} = c.{q('id')})) "
                f"ON CONFLICT ({q('channel_id')}, {q('product_id')}) DO UPDATE SET "
                f"{q('requested_at')} = excluded.{q('requested_at')}, {q('lease_until')} = NULL, "
                f"{q('attempts')} = 0 RETURNING {q('channel_id')}"
            )
            only = [channel_id] if channel_id is not None else []
            cursor.execute(sql, [_stamp(now), *product_params, *kinds, ChannelStatus.DISABLED, *only, True])
            channels.update(row[0] for row in cursor.fetchall())
    return sorted(channels)
