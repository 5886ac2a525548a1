"""Shared plumbing for the benchmarks: temporary databases, environment, payloads.

Import this before Django is set up; call `configure_env()` then `setup_django()`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "fixtures" / "shopify" / "webhook_orders_create.json"
WEBHOOK_SECRET = "shpss_bench_webhook_secret"
SECRET_KEY = "bench-only-secret-key-not-for-production-0123456789abcdef"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_URL_TEMPLATE = os.environ.get("BENCH_PG_URL_TEMPLATE", "postgres://postgres@127.0.0.1:5432/{name}")
RESULTS_DIR = ROOT / "bench" / "results"


# -- environment -----------------------------------------------------------------------------
def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so `finally` blocks stop servers and drop databases."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def configure_env(database_url: str) -> dict[str, str]:
    """Environment for this process and for any server it starts. Must run before django.setup()."""
    values = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_LEVEL": "WARNING",
        "DEBUG": "False",
        "FENICIA_CREDENTIALS_KEY": "",
    }
    os.environ.update(values)
    os.environ.pop("BENCH_SQLITE_CONN_MAX_AGE", None)  # the what-if knob is opt-in per run
    return values


def setup_django() -> None:
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# -- temporary databases -----------------------------------------------------------------------
@contextmanager
def temp_database(kind: str, tmpdir: Path):
    """Yield a DATABASE_URL for a fresh database that is removed afterwards."""
    if kind == "sqlite":
        path = tmpdir / "bench.sqlite3"
        yield f"sqlite:///{path}"
        return  # the file goes with tmpdir
    if kind != "postgres":
        raise ValueError(kind)
    import psycopg

    name = f"fenicia_bench_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL_TEMPLATE.format(name=name)
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def temp_dir(prefix: str):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- payloads ----------------------------------------------------------------------------------
_FIXTURE_DATA = json.loads(FIXTURE.read_text())
BASE_UPDATED_AT = datetime(2026, 11, 20, 13, 20, tzinfo=UTC)


def order_payload(i: int, *, updated_at: datetime | None = None) -> dict:
    """A Shopify REST order (webhook shape) built from the test fixture: distinct id, number
    and line ids, two lines."""
    data = copy.deepcopy(_FIXTURE_DATA)
    order_id = 7_000_000_000_000 + i
    data["id"] = order_id
    data["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
    data["order_number"] = 100_000 + i
    data["number"] = 99_000 + i
    data["name"] = f"#{100_000 + i}"
    data["confirmation_number"] = f"BENCH{i:08d}"
    data["email"] = data["contact_email"] = f"buyer{i}@example.com"
    data["updated_at"] = (updated_at or BASE_UPDATED_AT).isoformat()
    first = data["line_items"][0]
    second = copy.deepcopy(first)
    first["id"] = order_id * 10 + 1
    first["admin_graphql_api_id"] = f"gid://shopify/LineItem/{first['id']}"
    second.update(
        id=order_id * 10 + 2,
        admin_graphql_api_id=f"gid://shopify/LineItem/{order_id * 10 + 2}",
        sku="MUG-WHT",
        title="Mug",
        variant_title="White",
        name="Mug - White",
        price="12.50",
        current_quantity=1,
        quantity=1,
        fulfillable_quantity=1,
        product_id=3301,
        variant_id=4401,
    )
    data["line_items"] = [first, second]
    data["subtotal_price"] = data["current_subtotal_price"] = "62.40"
    data["total_price"] = data["current_total_price"] = "72.40"
    return data


def order_body(i: int, *, updated_at: datetime | None = None) -> bytes:
    return json.dumps(order_payload(i, updated_at=updated_at), separators=(",", ":")).encode()


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(*, delivery_id: str, body: bytes, topic: str = "orders/create") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body),
        "X-Shopify-Shop-Domain": "bench-shop.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": delivery_id,
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
    }


def one_hour_later() -> datetime:
    return BASE_UPDATED_AT + timedelta(hours=1)


# -- reporting ---------------------------------------------------------------------------------
def machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )


def load_average() -> float:
    """1-minute load average: other work on this machine skews absolute figures (not the
    same-run ratios as much). Printed and saved with every result."""
    return round(os.getloadavg()[0], 2)


def cpu_busy(seconds: float = 1.0) -> float:
    """Share (0-100) of all CPUs busy over `seconds`, measured before a benchmark starts: when
    other work is running on this machine, absolute figures drop (same-run ratios less so)."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    return round(100 * (busy_after - busy_before) / max(1, total_after - total_before), 1)


def wait_for_quiet(max_seconds: float, threshold_pct: float = 25.0) -> float:
    """Wait (at most `max_seconds`) until other work leaves the CPUs mostly idle; return the
    last busy share seen. Shared machines: test suites running next door halve the figures."""
    deadline = time.monotonic() + max_seconds
    busy = cpu_busy(1.0)
    while busy > threshold_pct and time.monotonic() < deadline:
        print(f"  waiting for a quieter machine: CPU {busy}% busy with other work", flush=True)
        busy = cpu_busy(2.0)
    return busy


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it (read-only git)."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"


def save_results(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "code": code_version(), **data}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]
