"""The issue's proof: a 100,000-row CSV over FTP (a real pyftpdlib server), applied set-based
with its invalid rows and unmapped SKUs reported exactly, in a few hundred queries."""

from __future__ import annotations

import time

import pytest

from inventory import services
from inventory.models import AppliedFile, Product, RunStatus, StockLevel

from .factories import make_source

pytestmark = pytest.mark.django_db

ROWS = 100_000


def row(i: int) -> tuple[str, str, str]:
    """(sku, quantity, what it is)"""
    if i % 1000 == 7:
        return f"SKU-{i:06d}", "n/a", "invalid"
    if i % 2000 == 11:
        return f"SKU-{i:06d}", "-5", "invalid"
    if i % 4000 == 13:
        return "", "4", "invalid"
    if i % 20 == 19:
        return f"UNKNOWN-{i:06d}", str(i % 50), "unmapped"
    return f"SKU-{i:06d}", str(i % 500), "valid"


def build_file(change: dict[int, int] | None = None) -> tuple[bytes, dict[str, list[int]]]:
    lines = ["item_no;on_hand"]
    kinds: dict[str, list[int]] = {"valid": [], "invalid": [], "unmapped": []}
    for i in range(ROWS):
        sku, quantity, kind = row(i)
        if change and i in change:
            quantity = str(change[i])
        lines.append(f"{sku};{quantity}")
        kinds[kind].append(i)
    return ("\n".join(lines) + "\n").encode(), kinds


def test_a_100000_row_csv_over_ftp_is_applied_with_its_problems_reported(
    ftp_server, ftp_root, run_tasks, django_assert_max_num_queries
):
    Product.objects.bulk_create(
        [Product(sku=f"SKU-{i:06d}", name=f"Item {i}") for i in range(ROWS) if i % 20 != 19], batch_size=5000
    )
    data, kinds = build_file()
    (ftp_root / "outbound" / "stock_20261120.csv").write_bytes(data)
    source = make_source(
        kind="ftp",
        host="127.0.0.1",
        port=ftp_server.port,
        username=ftp_server.user,
        password=ftp_server.password,
        remote_path="/outbound/stock_*.csv",
        delimiter=";",
        sku_field="item_no",
        quantity_field="on_hand",
    )

    started = time.monotonic()
    with django_assert_max_num_queries(400), run_tasks():
        run = services.source_sync_start(source=source)
    elapsed = time.monotonic() - started
    run.refresh_from_db()
    print(f"\n100,000-row FTP file applied in {elapsed:.2f} s")

    assert run.status == RunStatus.COMPLETED, run.error
    assert run.file_name == "/outbound/stock_20261120.csv"
    assert run.records_processed == ROWS
    assert len(kinds["valid"]) == 94_825
    assert run.products_updated == len(kinds["valid"])
    assert StockLevel.objects.filter(source=source).count() == len(kinds["valid"])
    # Invalid rows: exact count, each listed with its file line (the header is line 1) and reason.
    assert run.invalid_count == len(kinds["invalid"]) == 175
    listed = {r["line"]: r["reason"] for r in run.invalid_rows}
    assert sorted(listed) == sorted(i + 2 for i in kinds["invalid"])
    assert listed[7 + 2] == "quantity 'n/a' is not a whole number"
    assert listed[11 + 2] == "quantity -5 is negative"
    assert listed[13 + 2] == "item_no is empty"
    # Unmapped SKUs: exact count; the first 500 listed with line and the quantity read.
    assert run.unmapped_count == len(kinds["unmapped"]) == 5_000
    assert len(run.unmapped_skus) == 500
    assert run.unmapped_skus[0] == {"sku": "UNKNOWN-000019", "line": 21, "quantity": 19}
    # The stock itself, spot-checked, and the totals kept in step.
    assert Product.objects.get(sku="SKU-000498").available == 498
    assert Product.objects.get(sku="SKU-099998").available == 99_998 % 500
    assert not StockLevel.objects.filter(product__sku="SKU-000007").exists()  # its row was invalid

    # The same file again: not applied twice.
    with run_tasks():
        again = services.source_sync_start(source=source)
    again.refresh_from_db()
    assert again.status == RunStatus.COMPLETED and "already applied" in again.message
    assert again.records_processed == 0
    assert AppliedFile.objects.filter(source=source).count() == 1

    # A newer file with ten quantities changed updates exactly those ten products.
    changed = {i: 1000 + i for i in kinds["valid"][:10]}
    newer, _ = build_file(changed)
    (ftp_root / "outbound" / "stock_20261121.csv").write_bytes(newer)
    with run_tasks():
        third = services.source_sync_start(source=source)
    third.refresh_from_db()
    assert third.file_name == "/outbound/stock_20261121.csv"
    assert third.products_updated == 10
    assert Product.objects.get(sku=f"SKU-{kinds['valid'][0]:06d}").available == 1000 + kinds["valid"][0]
