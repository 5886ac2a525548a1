"""Set-based writes Django's ORM can't express: a multi-row upsert with a guard.

`INSERT ... ON CONFLICT (...) DO UPDATE SET ... WHERE <guard> RETURNING ...` is the same SQL on
PostgreSQL and SQLite (3.35+). The guard makes a conflicting row update only when the incoming
data is not older than what is stored; rows the guard refuses are simply not returned.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models


def upsert_returning(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    conflict_fields: Sequence[str],
    update_fields: Iterable[str],
    guard_sql: str = "",
    returning: Sequence[str] = ("id",),
) -> list[tuple]:
    """Upsert `rows` (dicts of field name -> Python value) and return `returning` columns for
    every row that was inserted or updated. `guard_sql` may refer to the stored row by the
    table name and to the incoming row as `excluded`. On PostgreSQL an extra last column tells
    whether the row was inserted (`xmax = 0`)."""
    if not rows:
        return []
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    # Columns the caller didn't give take the model's default on insert (a new NOT NULL field
    # with a Python-side default must not break every upsert); they are never updated.
    defaults = {
        f.name: f.get_default()
        for f in meta.concrete_fields
        if not f.primary_key and f.name not in rows[0] and f.attname not in rows[0] and f.has_default()
    }
    if defaults:
        rows = [{**defaults, **row} for row in rows]
    names = list(rows[0])
    fields = [meta.get_field(name) for name in names]
    columns = [connection.ops.quote_name(f.column) for f in fields]
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params: list[Any] = []
    for row in rows:
        params.extend(f.get_db_prep_save(row[name], connection) for f, name in zip(fields, names, strict=True))
    conflict = ", ".join(connection.ops.quote_name(meta.get_field(n).column) for n in conflict_fields)
    quoted = [connection.ops.quote_name(meta.get_field(n).column) for n in update_fields]
    assignments = ", ".join(f"{column} = excluded.{column}" for column in quoted)
    returning_sql = ", ".join(connection.ops.quote_name(meta.get_field(n).column) for n in returning)
    if connection.vendor == "postgresql":
        returning_sql += ", (xmax = 0)"
    # Only column names from the model's own metadata are interpolated; values are parameters.
    values = ", ".join([placeholders] * len(rows))
    where = f" WHERE {guard_sql}" if guard_sql else ""
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}{where} RETURNING {returning_sql}"  # noqa: S608
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def update_from_values(model: type[models.Model], field: str, values: Sequence[tuple[Any, Any]]) -> int:
    """Set a text `field` to a different value per row in one statement:
    `UPDATE t SET col = v.column2 FROM (VALUES (pk, value), ...) AS v WHERE t.pk = v.column1`
    (PostgreSQL, and SQLite 3.33+). Django's bulk_update builds a CASE per row in Python instead."""
    if not values:
        return 0
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    target = meta.get_field(field)
    column = connection.ops.quote_name(target.column)
    pk = connection.ops.quote_name(meta.pk.column)
    cast = "::text" if connection.vendor == "postgresql" else ""
    params: list[Any] = []
    for key, value in values:
        params.extend([key, target.get_db_prep_save(value, connection)])
    rows = ", ".join([f"(%s, %s{cast})"] * len(values))
    sql = f"UPDATE {table} SET {column} = v.column2 FROM (VALUES {rows}) AS v WHERE {table}.{pk} = v.column1"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
