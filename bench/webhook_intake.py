"""Webhook intake: requests/s and latency of Fenicia's real Shopify receiver versus a minimal
verify-and-insert view, both served by the same gunicorn in the same run.

    .venv/bin/python bench/webhook_intake.py [--db sqlite|postgres] [--requests 2000] [--concurrency 8]

What happens:
  1. a fresh temporary database (SQLite file, or PostgreSQL `fenicia_bench_<pid>`), migrated;
     the baseline's bare table is created with raw SQL (it is not in any migration);
  2. one Shopify channel whose webhook secret is the one the baseline view checks;
  3. `gunicorn -w 2 bench.wsgi` on 127.0.0.1 (Fenicia's settings, ROOT_URLCONF = bench.urls);
     no qcluster runs, so the drain never competes with intake: Fenicia's receiver only
     stores the delivery and enqueues (once per burst) into django-q2's ORM queue;
  4. per target a warm-up, then a fixed number of signed POSTs (~3.4 KB order bodies, unique
     X-Shopify-Webhook-Id each) from `--concurrency` threads, each with its own
     requests.Session; targets alternate over `--rounds` rounds (A B, B A, ...; 4) so neither
     gets the emptier database or the warmer caches;
  5. rows are counted afterwards: every 200 must have stored exactly one row.

Prints req/s, p50/p99 latency and server CPU per request for each target and the ratios
fenicia/baseline. The load generator runs on the same 2 cores as the server, so absolute
figures are a floor; the ratio is the number to watch.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import _common as common
import requests

ROOT = common.ROOT
GUNICORN = Path(sys.executable).with_name("gunicorn")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per target (all rounds)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up requests per target")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per target")
    parser.add_argument(
        "--sqlite-conn-max-age",
        type=int,
        default=None,
        help="what-if: override CONN_MAX_AGE on SQLite (0 = a connection per request, Fenicia's "
        "behaviour before 9cbf03f); results are saved under a separate name",
    )
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per target per round")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for other work on the machine to calm down",
    )
    return parser.parse_args()


# -- server ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            str(GUNICORN),
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT),
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "bench.wsgi:application",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc._bench_log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if session.get(f"http://127.0.0.1:{port}/bench/ping/", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"gunicorn did not answer within 30 s:\n{log_path.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    proc._bench_log.close()  # type: ignore[attr-defined]


def worker_pids(master_pid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == master_pid:
            pids.append(int(entry))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes (the gunicorn workers)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


# -- load --------------------------------------------------------------------------------------
def build_requests(target: str, start: int, count: int) -> list[tuple[dict[str, str], bytes]]:
    """Signed bodies prepared before the clock starts, so the client spends its CPU on HTTP."""
    items = []
    for i in range(start, start + count):
        body = common.order_body(i)
        items.append((common.webhook_headers(delivery_id=f"bench-{target}-{i}", body=body), body))
    return items


def run_load(url: str, items: list[tuple[dict[str, str], bytes]], concurrency: int, max_seconds: float) -> dict:
    lock = threading.Lock()
    position = 0
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    deadline = time.perf_counter() + max_seconds

    def take() -> int | None:
        nonlocal position
        with lock:
            if position >= len(items) or time.perf_counter() > deadline:
                return None
            position += 1
            return position - 1

    def worker() -> None:
        session = requests.Session()
        session.trust_env = False  # never a proxy: 127.0.0.1 only
        local_latencies, local_statuses = [], {}
        while (index := take()) is not None:
            headers, body = items[index]
            started = time.perf_counter()
            try:
                status: int | str = session.post(url, data=body, headers=headers, timeout=30).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            local_latencies.append(time.perf_counter() - started)
            local_statuses[status] = local_statuses.get(status, 0) + 1
        session.close()
        with lock:
            latencies.extend(local_latencies)
            for key, value in local_statuses.items():
                statuses[key] = statuses.get(key, 0) + value

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"elapsed": time.perf_counter() - started, "latencies": latencies, "statuses": statuses}


# -- main --------------------------------------------------------------------------------------
def prepare_database() -> tuple[int, str]:
    from django.conf import settings
    from django.db import connection, connections

    from channels.services import channel_create

    common.migrate()
    blob = "BYTEA" if connection.vendor == "postgresql" else "BLOB"
    pk = "BIGSERIAL PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {settings.BENCH_RAW_TABLE} (id {pk}, body {blob} NOT NULL)")
    channel = channel_create(
        kind="shopify",
        name="Bench shop",
        credentials={"shop": "bench-shop.myshopify.com", "access_token": "shpat_bench"},
        webhook_secret=common.WEBHOOK_SECRET,
    )
    vendor = connection.vendor
    connections.close_all()
    return channel.pk, vendor


def count_rows(channel_id: int) -> dict[str, int]:
    from django.conf import settings
    from django.db import connection, connections
    from django_q.models import OrmQ

    from channels.models import WebhookEvent

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {settings.BENCH_RAW_TABLE}")
        raw = cursor.fetchone()[0]
    counts = {
        "fenicia": WebhookEvent.objects.filter(channel_id=channel_id).count(),
        "baseline": raw,
        "queued_tasks": OrmQ.objects.count(),
    }
    connections.close_all()
    return counts


def main() -> int:
    args = parse_args()
    common.raise_on_sigterm()
    per_round = max(1, args.requests // args.rounds)
    with common.temp_dir("fenicia-bench-intake-") as tmp, common.temp_database(args.db, tmp) as database_url:
        env = common.configure_env(database_url)
        if args.sqlite_conn_max_age is not None:
            env["BENCH_SQLITE_CONN_MAX_AGE"] = str(args.sqlite_conn_max_age)
        common.setup_django()
        channel_id, vendor = prepare_database()
        port = free_port()
        targets = {
            "fenicia": f"http://127.0.0.1:{port}/webhooks/shopify/{channel_id}/",
            "baseline": f"http://127.0.0.1:{port}/bench/baseline/webhook/",
        }
        conn_note = (
            f", SQLite CONN_MAX_AGE={args.sqlite_conn_max_age} (what-if)"
            if args.sqlite_conn_max_age is not None and vendor == "sqlite"
            else ""
        )
        print(
            f"webhook intake — {vendor}{conn_note}, gunicorn -w {args.workers} (sync), "
            f"{args.concurrency} client threads, "
            f"{per_round * args.rounds} requests per target in {args.rounds} rounds, {common.machine()}"
        )
        load_before = common.load_average()
        busy_before = common.wait_for_quiet(args.wait_quiet)
        print(f"machine before start: load avg {load_before}, CPU {busy_before}% busy with other work")
        print(f"body {len(common.order_body(0))} bytes, signed; unique X-Shopify-Webhook-Id per request")
        proc = None
        try:
            proc = start_server(port, args.workers, env, tmp / "gunicorn.log")
            workers = worker_pids(proc.pid)
            next_id = {"fenicia": 0, "baseline": 0}
            sent = {"fenicia": 0, "baseline": 0}
            for name, url in targets.items():  # warm-up: imports, connections, page cache
                items = build_requests(name, next_id[name], args.warmup)
                next_id[name] += len(items)
                warm = run_load(url, items, args.concurrency, args.max_seconds)
                sent[name] += sum(v for k, v in warm["statuses"].items() if k == 200)
                if set(warm["statuses"]) != {200}:
                    raise RuntimeError(
                        f"{name} warm-up answered {warm['statuses']}:\n{(tmp / 'gunicorn.log').read_text()[-3000:]}"
                    )
            results = {name: {"elapsed": 0.0, "latencies": [], "statuses": {}, "cpu": 0.0} for name in targets}
            order = list(targets)
            for round_number in range(args.rounds):
                for name in order if round_number % 2 == 0 else order[::-1]:
                    items = build_requests(name, next_id[name], per_round)
                    next_id[name] += len(items)
                    cpu_before = cpu_seconds(workers)
                    outcome = run_load(targets[name], items, args.concurrency, args.max_seconds)
                    results[name]["cpu"] += cpu_seconds(workers) - cpu_before
                    results[name]["elapsed"] += outcome["elapsed"]
                    results[name]["latencies"].extend(outcome["latencies"])
                    for key, value in outcome["statuses"].items():
                        results[name]["statuses"][key] = results[name]["statuses"].get(key, 0) + value
                        if key == 200:
                            sent[name] += value
        finally:
            stop_server(proc)

        counts = count_rows(channel_id)
        summary = {}
        print()
        print(
            f"{'target':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'srv CPU ms/req':>14}  statuses"
        )
        for name, result in results.items():
            done = len(result["latencies"])
            lat = sorted(result["latencies"])
            row = {
                "requests": done,
                "req_per_s": done / result["elapsed"] if result["elapsed"] else 0.0,
                "p50_ms": common.percentile(lat, 50) * 1000,
                "p99_ms": common.percentile(lat, 99) * 1000,
                "max_ms": lat[-1] * 1000 if lat else float("nan"),
                "server_cpu_ms_per_req": result["cpu"] / done * 1000 if done else float("nan"),
                "statuses": result["statuses"],
            }
            summary[name] = row
            print(
                f"{name:<10} {done:>8} {row['req_per_s']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
                f"{row['max_ms']:>8.1f} {row['server_cpu_ms_per_req']:>14.2f}  {result['statuses']}"
            )
        fen, base = summary["fenicia"], summary["baseline"]
        ratios = {
            "throughput": fen["req_per_s"] / base["req_per_s"],
            "p50": fen["p50_ms"] / base["p50_ms"],
            "p99": fen["p99_ms"] / base["p99_ms"],
            "server_cpu": fen["server_cpu_ms_per_req"] / base["server_cpu_ms_per_req"],
        }
        print(
            f"ratio fenicia/baseline: req/s {ratios['throughput']:.2f}x, p50 {ratios['p50']:.2f}x, "
            f"p99 {ratios['p99']:.2f}x, server CPU/req {ratios['server_cpu']:.2f}x"
        )
        print(
            f"rows stored: fenicia inbox {counts['fenicia']} (200s: {sent['fenicia']}), "
            f"baseline table {counts['baseline']} (200s: {sent['baseline']}), django-q2 queued tasks "
            f"{counts['queued_tasks']}"
        )
        print(f"load avg before/after: {load_before} / {common.load_average()}")
        ok = (
            counts["fenicia"] == sent["fenicia"]
            and counts["baseline"] == sent["baseline"]
            and all(set(r["statuses"]) == {200} for r in summary.values())
        )
        if not ok:
            print("FAILED: a request was refused or a 200 did not store exactly one row", file=sys.stderr)
        suffix = f"-conn-max-age-{args.sqlite_conn_max_age}" if args.sqlite_conn_max_age is not None else ""
        path = common.save_results(
            f"webhook_intake-{args.db}{suffix}",
            {
                "db": vendor,
                "load_avg": [load_before, common.load_average()],
                "cpu_busy_before_pct": busy_before,
                "sqlite_conn_max_age": args.sqlite_conn_max_age,
                "workers": args.workers,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
                "body_bytes": len(common.order_body(0)),
                "targets": summary,
                "ratios": ratios,
                "rows": counts,
            },
        )
        print(f"results: {path.relative_to(ROOT)}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
