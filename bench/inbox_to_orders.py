"""Inbox -> orders: how fast `orders.sync.inbox_drain` turns stored webhook deliveries into
orders, versus Django's own bulk upsert of the same, already normalised, rows.

    .venv/bin/python bench/inbox_to_orders.py [--db sqlite|postgres] [--orders 5000] [--profile]

What happens (in this process, no server):
  1. a fresh temporary database (SQLite file, or PostgreSQL `fenicia_bench_<pid>`), migrated;
  2. N distinct Shopify orders/create deliveries (~3.4 KB bodies, 2 lines each) stored in the
     inbox of channel A with `bulk_create` (not timed: that is the receiver's job);
  3. timed: `inbox_drain(channel_id=A)` — select a batch (200), parse and normalise each body,
     upsert orders (guarded INSERT ... ON CONFLICT), upsert lines, upsert shipments, write one
     timeline event per order, mark the deliveries processed; one transaction per batch;
  4. baseline, timed: on channel B, per 200 orders in one transaction,
     `Order.objects.bulk_create(update_conflicts=True, unique_fields=["channel", "external_id"],
     update_fields=[...])` of the same normalised orders (parsed beforehand, not timed), then
     `OrderLine.objects.bulk_create` of their lines;
  5. the update path: the same N orders re-delivered as orders/updated one hour newer — Fenicia
     drains them again; the baseline upserts again, deletes and re-inserts lines;
  6. counts are checked (N orders, 2N lines, N timeline events per pass, all deliveries processed).

The N orders are cut into slices (5); within each slice baseline and Fenicia alternate (B F, F B, ...)
so that neither always meets the bigger table or a neighbour's CPU burst; times are summed.
Prints orders/s (each order is one order row + 2 line rows + 1 timeline row for Fenicia) and the
ratio fenicia/baseline (1.0 = as fast as a bare bulk upsert; lower = slower).
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
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=200, help="baseline orders per transaction")
    parser.add_argument("--slices", type=int, default=5, help="alternate Fenicia and baseline over this many slices")
    parser.add_argument("--verbose", action="store_true", help="print each slice's timings")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after measuring, cProfile one more Fenicia drain (on a third channel) and print it",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for other work on the machine to calm down",
    )
    return parser.parse_args()


def make_channel(name: str):
    from channels.services import channel_create

    return channel_create(
        kind="shopify",
        name=name,
        credentials={"shop": "bench-shop.myshopify.com", "access_token": "shpat_bench"},
        webhook_secret=common.WEBHOOK_SECRET,
    )


def store_deliveries(channel, ids, *, topic: str, tag: str, updated_at=None) -> list[bytes]:
    """What the receiver would have stored: raw body and the headers it keeps."""
    from channels.models import WebhookEvent

    bodies = [common.order_body(i, updated_at=updated_at) for i in ids]
    WebhookEvent.objects.bulk_create(
        [
            WebhookEvent(
                channel=channel,
                delivery_id=f"bench-{tag}-{i}",
                topic=topic,
                headers=common.webhook_headers(delivery_id=f"bench-{tag}-{i}", body=body, topic=topic),
                body=body,
            )
            for i, body in zip(ids, bodies, strict=True)
        ],
        batch_size=500,
    )
    return bodies


def normalise(channel, bodies: list[bytes], topic: str):
    from channels.adapters import adapter_for

    adapter = adapter_for(channel)
    started = time.perf_counter()
    orders = [adapter.parse_webhook(headers={"X-Shopify-Topic": topic}, body=body).order for body in bodies]
    return orders, time.perf_counter() - started


def timed(fn):
    gc.collect()
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def baseline_upsert(channel, orders, chunk: int, *, replace_lines: bool) -> None:
    from django.db import transaction
    from django.utils import timezone

    from orders.models import Order, OrderLine
    from orders.services import ORDER_FIELDS

    update_fields = [*ORDER_FIELDS, "last_synced_at", "sync_state", "sync_error", "updated_at"]
    now = timezone.now()
    for start in range(0, len(orders), chunk):
        part = orders[start : start + chunk]
        with transaction.atomic():
            objs = Order.objects.bulk_create(
                [
                    Order(
                        channel_id=channel.pk,
                        external_id=o.external_id,
                        **{name: getattr(o, name) for name in ORDER_FIELDS},
                        last_synced_at=now,
                        sync_state="ok",
                        sync_error="",
                    )
                    for o in part
                ],
                update_conflicts=True,
                unique_fields=["channel", "external_id"],
                update_fields=update_fields,
            )
            if replace_lines:
                OrderLine.objects.filter(order_id__in=[obj.pk for obj in objs]).delete()
            OrderLine.objects.bulk_create(
                [
                    OrderLine(
                        order_id=obj.pk,
                        external_id=line.external_id,
                        position=position,
                        sku=line.sku,
                        title=line.title,
                        variant=line.variant,
                        quantity=line.quantity,
                        unit_price=line.unit_price,
                    )
                    for obj, o in zip(objs, part, strict=True)
                    for position, line in enumerate(o.lines)
                ],
            )


def check(channel, n: int, *, passes: int, fenicia: bool) -> list[str]:
    from channels.models import WebhookEvent
    from orders.models import Order, OrderLine, SyncEvent

    problems = []
    orders = Order.objects.filter(channel=channel).count()
    lines = OrderLine.objects.filter(order__channel=channel).count()
    if orders != n:
        problems.append(f"{channel.name}: {orders} orders, expected {n}")
    if lines != 2 * n:
        problems.append(f"{channel.name}: {lines} lines, expected {2 * n}")
    if fenicia:
        events = SyncEvent.objects.filter(channel=channel, order__isnull=False).count()
        if events != passes * n:
            problems.append(f"{channel.name}: {events} timeline events, expected {passes * n}")
        pending = WebhookEvent.objects.filter(channel=channel).exclude(status=WebhookEvent.Status.PROCESSED).count()
        if pending:
            problems.append(f"{channel.name}: {pending} deliveries not processed")
        newest = Order.objects.filter(channel=channel, source_updated_at=common.one_hour_later()).count()
        if passes == 2 and newest != n:
            problems.append(f"{channel.name}: {newest} orders carry the update, expected {n}")
    return problems


def profile_drain(n: int) -> str:
    from orders.sync import inbox_drain

    channel = make_channel("Bench profile")
    store_deliveries(channel, range(n), topic="orders/create", tag="profile")
    profiler = cProfile.Profile()
    profiler.enable()
    inbox_drain(channel_id=channel.pk)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(20)
    app_and_bulk = r"(orders|channels|fenicia)/|query.py:.*bulk_|query.py:.*(get|filter)\b"
    stats.sort_stats("cumulative").print_stats(app_and_bulk, 30)
    return out.getvalue()


def main() -> int:
    args = parse_args()
    common.raise_on_sigterm()
    n = args.orders
    with common.temp_dir("fenicia-bench-inbox-") as tmp, common.temp_database(args.db, tmp) as database_url:
        common.configure_env(database_url)
        common.setup_django()
        common.migrate()
        from django.db import connection, connections

        from orders.sync import inbox_drain

        vendor = connection.vendor
        fen_channel = make_channel("Bench Fenicia")
        base_channel = make_channel("Bench baseline")
        print(
            f"inbox -> orders — {vendor}, {n} distinct orders x 2 lines, bodies {len(common.order_body(0))} bytes, "
            f"{common.machine()}"
        )
        load_before = common.load_average()
        busy_before = common.wait_for_quiet(args.wait_quiet)
        print(f"machine before start: load avg {load_before}, CPU {busy_before}% busy with other work")

        timings = dict.fromkeys(
            ["fenicia_new", "baseline_new", "fenicia_update", "baseline_update", "normalise_new", "normalise_update"],
            0.0,
        )
        later = common.one_hour_later()
        # Slices of the N orders, Fenicia and baseline alternating within each, so that a
        # neighbour's CPU burst or the growing tables hit both sides alike.
        slices = [range(start, min(n, start + -(-n // args.slices))) for start in range(0, n, -(-n // args.slices))]
        for phase, topic, updated_at in (("new", "orders/create", None), ("update", "orders/updated", later)):
            for number, ids in enumerate(slices):
                bodies = store_deliveries(fen_channel, ids, topic=topic, tag=phase, updated_at=updated_at)
                orders, seconds = normalise(base_channel, bodies, topic)
                timings[f"normalise_{phase}"] += seconds
                sides = ["baseline", "fenicia"] if number % 2 == 0 else ["fenicia", "baseline"]
                for side in sides:
                    if side == "fenicia":
                        handled, seconds = timed(lambda: inbox_drain(channel_id=fen_channel.pk))
                        assert handled == len(ids), (handled, len(ids))
                    else:
                        _, seconds = timed(
                            lambda orders=orders, phase=phase: baseline_upsert(
                                base_channel, orders, args.chunk, replace_lines=phase == "update"
                            )
                        )
                    timings[f"{side}_{phase}"] += seconds
                    if args.verbose:
                        print(
                            f"  {phase:<6} slice {number + 1}/{len(slices)} {side:<8} {len(ids)} orders "
                            f"{seconds:6.2f} s  ({len(ids) / seconds:5.0f}/s)"
                        )

        problems = check(fen_channel, n, passes=2, fenicia=True) + check(base_channel, n, passes=2, fenicia=False)
        rate = {key: n / value for key, value in timings.items()}
        ratios = {
            "new": rate["fenicia_new"] / rate["baseline_new"],
            "update": rate["fenicia_update"] / rate["baseline_update"],
        }
        print()
        print(f"{'path':<44} {'seconds':>8} {'orders/s':>9} {'rows/s':>9}")
        rows = [
            ("fenicia_new", "fenicia inbox_drain, new orders", 4),
            ("baseline_new", "baseline bulk upsert, new orders", 3),
            ("fenicia_update", "fenicia inbox_drain, re-delivered (update)", 4),
            ("baseline_update", "baseline bulk upsert, update (+ line swap)", 3),
            ("normalise_new", "(parse_webhook alone, new: not in either)", 0),
        ]
        for key, label, rows_per_order in rows:
            rows_per_s = f"{rate[key] * rows_per_order:>9.0f}" if rows_per_order else f"{'':>9}"
            print(f"{label:<44} {timings[key]:>8.2f} {rate[key]:>9.0f} {rows_per_s}")
        print(f"load avg before/after: {load_before} / {common.load_average()}")
        print(f"ratio fenicia/baseline (orders/s): new {ratios['new']:.2f}x, update {ratios['update']:.2f}x")
        print("rows/s counts order + 2 lines (+ 1 timeline event for Fenicia; its inbox row update is not counted)")
        if problems:
            print("FAILED: " + "; ".join(problems), file=sys.stderr)
        else:
            print(
                f"checked: {n} orders and {2 * n} lines per channel, {2 * n} timeline events, all deliveries processed"
            )
        profile_text = profile_drain(min(n, 2000)) if args.profile else ""
        connections.close_all()
        path = common.save_results(
            f"inbox_to_orders-{args.db}",
            {
                "db": vendor,
                "orders": n,
                "slices": args.slices,
                "load_avg": [load_before, common.load_average()],
                "cpu_busy_before_pct": busy_before,
                "seconds": timings,
                "orders_per_s": rate,
                "ratios": ratios,
                "problems": problems,
            },
        )
        print(f"results: {path.relative_to(ROOT)}")
        if profile_text:
            print("\n--- cProfile of one more Fenicia drain (profiler overhead inflates the totals) ---")
            print(profile_text)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
