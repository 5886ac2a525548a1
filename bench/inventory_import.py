"""Inventory import: how fast a 100,000-row stock file is applied, versus a raw bulk upsert of
the same rows in the same run.

    .venv/bin/python bench/inventory_import.py [--db sqlite|postgres] [--rows 100000] [--profile]

What happens (in this process, no server):
  1. a fresh temporary database (SQLite file, or PostgreSQL `fenicia_bench_<pid>`), migrated;
  2. the catalogue: one product per SKU of the file (95% of the rows; the rest are unmapped);
  3. a CSV like an ERP's export: `item_no;on_hand`, N rows, of which 0.175% invalid (not a
     number, negative, empty SKU) and 5% SKUs we don't sell (unmapped) — the test's file;
  4. three passes, each stored as a webhook delivery of a "Fenicia" source and applied by the
     real `inventory.services.run_execute` (claim the run, parse, map codes to products,
     upsert levels set-based, recompute the totals, queue pushes, write the run's report):
       new        no levels yet (every valid row inserts),
       update     every quantity changed (every valid row updates),
       unchanged  the same file again (nothing to write; Fenicia skips unchanged levels);
  5. baseline, timed the same way on a second source: the rows already parsed and mapped to
     product ids (not timed), written with Django's
     `StockLevel.objects.bulk_create(update_conflicts=True, unique_fields=[product, source],
     update_fields=[quantity, updated_at], batch_size=5000)` in one transaction — the floor of
     writing those rows, with no parsing, mapping, totals or report;
  6. checks: both sources hold the same levels; the run reports the exact invalid and unmapped
     counts.

Fenicia and the baseline alternate per pass (B F, F B, B F) so neither always meets a warm
cache or a neighbour's CPU burst. rows/s = file rows / seconds (the baseline gets the same
numerator although it writes only the valid, mapped rows).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import time

import _common as common

ROOT = common.ROOT


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="cProfile one more Fenicia apply and print it")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS")
    return parser.parse_args()


def row(i: int, bump: int = 0) -> tuple[str, str, str]:
    if i % 1000 == 7:
        return f"SKU-{i:06d}", "n/a", "invalid"
    if i % 2000 == 11:
        return f"SKU-{i:06d}", "-5", "invalid"
    if i % 4000 == 13:
        return "", "4", "invalid"
    if i % 20 == 19:
        return f"UNKNOWN-{i:06d}", str(i % 50), "unmapped"
    return f"SKU-{i:06d}", str(i % 500 + bump), "valid"


def build_file(rows: int, bump: int = 0) -> tuple[bytes, list[tuple[str, int]], dict[str, int]]:
    lines = ["item_no;on_hand"]
    valid: list[tuple[str, int]] = []
    counts = {"valid": 0, "invalid": 0, "unmapped": 0}
    for i in range(rows):
        sku, quantity, kind = row(i, bump)
        lines.append(f"{sku};{quantity}")
        counts[kind] += 1
        if kind == "valid":
            valid.append((sku, int(quantity)))
    return ("\n".join(lines) + "\n").encode(), valid, counts


def timed(fn):
    gc.collect()
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def make_source(name: str):
    from inventory import services

    return services.source_create(
        name=name,
        kind="webhook",
        webhook_secret="bench",
        webhook_auth="token",
        webhook_header="X-Token",
        data_format="csv",
        delimiter=";",
        sku_field="item_no",
        quantity_field="on_hand",
    )


def fenicia_apply(source, data: bytes):
    """What a webhook push does after the receiver stored it: one run, start to end."""
    import hashlib

    from inventory import services
    from inventory.models import InventoryDelivery, RunTrigger

    delivery = InventoryDelivery.objects.create(
        source=source, body=data, content_type="text/csv", checksum=hashlib.sha256(data).hexdigest()
    )
    run = services.source_sync_start(source=source, trigger=RunTrigger.WEBHOOK, delivery=delivery, enqueue_task=False)
    return timed(lambda: services.run_execute(run_id=run.pk))


def baseline_apply(source, valid: list[tuple[str, int]], product_ids: dict[str, int]):
    from django.db import transaction
    from django.utils import timezone

    from inventory.models import StockLevel

    now = timezone.now()
    objs = [StockLevel(product_id=product_ids[sku], source=source, quantity=q, updated_at=now) for sku, q in valid]

    def write():
        with transaction.atomic():
            StockLevel.objects.bulk_create(
                objs,
                update_conflicts=True,
                unique_fields=["product", "source"],
                update_fields=["quantity", "updated_at"],
                batch_size=5000,
            )

    return timed(write)


def raw_apply(source, valid: list[tuple[str, int]], product_ids: dict[str, int]):
    """The DB-API floor: one prepared INSERT ... ON CONFLICT DO UPDATE, executemany'd."""
    from django.db import connection, transaction
    from django.utils import timezone

    from inventory.models import StockLevel

    stamp = connection.ops.adapt_datetimefield_value(timezone.now())
    table = connection.ops.quote_name(StockLevel._meta.db_table)
    sql = (
        f"INSERT INTO {table} (product_id, source_id, quantity, updated_at) VALUES (%s, %s, %s, %s) "  # noqa: S608
        "ON CONFLICT (product_id, source_id) DO UPDATE SET quantity = excluded.quantity, "
        "updated_at = excluded.updated_at"
    )
    params = [(product_ids[sku], source.pk, q, stamp) for sku, q in valid]

    def write():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, params)

    return timed(write)


def main() -> int:
    args = parse_args()
    common.raise_on_sigterm()
    n = args.rows
    with common.temp_dir("fenicia-bench-inventory-") as tmp, common.temp_database(args.db, tmp) as database_url:
        common.configure_env(database_url)
        common.setup_django()
        common.migrate()
        from django.db import connection, connections

        from inventory.models import Product, RunStatus, StockLevel

        vendor = connection.vendor
        Product.objects.bulk_create(
            [Product(sku=f"SKU-{i:06d}", name=f"Item {i}") for i in range(n) if row(i)[2] != "unmapped"],
            batch_size=5000,
        )
        product_ids = dict(Product.objects.values_list("sku", "id"))
        fen_source, base_source = make_source("Bench Fenicia"), make_source("Bench baseline")
        raw_source = make_source("Bench raw")
        files = {
            "new": build_file(n),
            "update": build_file(n, bump=1),
            "unchanged": build_file(n, bump=1),
        }
        data, _, counts = files["new"]
        print(
            f"inventory import — {vendor}, {n} rows ({counts['valid']} valid, {counts['invalid']} invalid, "
            f"{counts['unmapped']} unmapped), file {len(data) / 1e6:.1f} MB, {common.machine()}"
        )
        load_before = common.load_average()
        busy_before = common.wait_for_quiet(args.wait_quiet)
        print(f"machine before start: load avg {load_before}, CPU {busy_before}% busy with other work")

        seconds: dict[str, float] = {}
        problems: list[str] = []
        for number, (phase, (data, valid, counts)) in enumerate(files.items()):
            sides = ["baseline", "raw", "fenicia"] if number % 2 == 0 else ["fenicia", "raw", "baseline"]
            for side in sides:
                if side == "fenicia":
                    run, elapsed = fenicia_apply(fen_source, data)
                    run.refresh_from_db()
                    if run.status != RunStatus.COMPLETED:
                        problems.append(f"{phase}: run failed: {run.error}")
                    if (run.invalid_count, run.unmapped_count) != (counts["invalid"], counts["unmapped"]):
                        problems.append(f"{phase}: reported {run.invalid_count} invalid, {run.unmapped_count} unmapped")
                    expected_updates = 0 if phase == "unchanged" else counts["valid"]
                    if run.products_updated != expected_updates:
                        problems.append(f"{phase}: {run.products_updated} updated, expected {expected_updates}")
                elif side == "raw":
                    _, elapsed = raw_apply(raw_source, valid, product_ids)
                else:
                    _, elapsed = baseline_apply(base_source, valid, product_ids)
                seconds[f"{side}_{phase}"] = elapsed
        fen_levels = dict(StockLevel.objects.filter(source=fen_source).values_list("product_id", "quantity"))
        base_levels = dict(StockLevel.objects.filter(source=base_source).values_list("product_id", "quantity"))
        raw_levels = dict(StockLevel.objects.filter(source=raw_source).values_list("product_id", "quantity"))
        if not fen_levels == base_levels == raw_levels:
            problems.append(f"levels differ: {len(fen_levels)} vs {len(base_levels)} vs {len(raw_levels)} rows")

        rate = {key: n / value for key, value in seconds.items()}
        ratios = {
            f"{phase}_vs_{base}": rate[f"fenicia_{phase}"] / rate[f"{base}_{phase}"]
            for phase in files
            for base in ("baseline", "raw")
        }
        print()
        print(
            f"{'pass':<10} {'fenicia s':>9} {'rows/s':>8} | {'bulk_create s':>13} {'rows/s':>8} {'ratio':>6} "
            f"| {'raw SQL s':>9} {'rows/s':>8} {'ratio':>6}"
        )
        for phase in files:
            print(
                f"{phase:<10} {seconds[f'fenicia_{phase}']:>9.2f} {rate[f'fenicia_{phase}']:>8.0f} | "
                f"{seconds[f'baseline_{phase}']:>13.2f} {rate[f'baseline_{phase}']:>8.0f} "
                f"{ratios[f'{phase}_vs_baseline']:>5.2f}x | "
                f"{seconds[f'raw_{phase}']:>9.2f} {rate[f'raw_{phase}']:>8.0f} {ratios[f'{phase}_vs_raw']:>5.2f}x"
            )
        print(f"load avg before/after: {load_before} / {common.load_average()}")
        print("ratio = fenicia rows/s / baseline rows/s (1.0 = as fast as a bare upsert of pre-mapped rows)")
        if problems:
            print("FAILED: " + "; ".join(problems), file=sys.stderr)
        else:
            print(f"checked: all three sources hold the same {len(fen_levels)} levels; run reports exact")

        profile_text = ""
        if args.profile:
            profiler = cProfile.Profile()
            data, _, _ = build_file(n, bump=2)
            profiler.enable()
            fenicia_apply(fen_source, data)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(r"(inventory|fenicia)/", 25)
            stats.sort_stats("tottime").print_stats(15)
            profile_text = out.getvalue()
        connections.close_all()
        path = common.save_results(
            f"inventory_import-{args.db}",
            {
                "db": vendor,
                "rows": n,
                "counts": counts,
                "load_avg": [load_before, common.load_average()],
                "cpu_busy_before_pct": busy_before,
                "seconds": seconds,
                "rows_per_s": rate,
                "ratios": ratios,
                "problems": problems,
            },
        )
        print(f"results: {path.relative_to(ROOT)}")
        if profile_text:
            print("\n--- cProfile of one more Fenicia apply (profiler overhead inflates the totals) ---")
            print(profile_text)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
