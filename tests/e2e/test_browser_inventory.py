"""A merchant in a real browser against the whole product as it is deployed: Fenicia's web server
and a django-q2 worker (`qcluster`) as separate processes on their own database, an ERP's REST
endpoint on a local server. Import products from CSV, add a REST source, press "Sync now" and
watch the run go Pending/Syncing -> Completed with its counts, fix an unmapped SKU in one click.

The ERP endpoint holds its answer until the test has seen "Syncing" in the page, so the
intermediate state is observed, not guessed from timing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.inventory.servers import StockHttpServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "merchant", "correct-horse"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.3)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


@pytest.fixture
def database_url(tmp_path):
    """A database of their own for the server processes: a SQLite file, or a fresh PostgreSQL
    database when the suite itself runs on PostgreSQL."""
    suite_url = os.environ.get("DATABASE_URL", "")
    if not suite_url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'site.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(suite_url)
    name = f"fenicia_e2e_inventory_{os.getpid()}"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def site(tmp_path, database_url):
    """Web server + worker, started the way an operator starts them."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "True",  # static files straight from the apps (no collectstatic in a test)
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "FENICIA_WORKERS": "1",
        "DJANGO_SETTINGS_MODULE": "fenicia.settings",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    create_user = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USER!r}, password={PASSWORD!r}, is_staff=True)"
    )
    for step in (["migrate", "--noinput", "-v", "0"], ["shell", "-c", create_user]):
        done = subprocess.run([*manage, *step], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if done.returncode:
            pytest.fail(f"manage.py {step[0]} failed:\n{done.stdout}\n{done.stderr}")
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("web", "worker")}  # noqa: SIM115
    processes = {
        "web": subprocess.Popen(
            [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=ROOT,
            stdout=logs["web"],
            stderr=subprocess.STDOUT,
        ),
        "worker": subprocess.Popen(
            [*manage, "qcluster"], env=env, cwd=ROOT, stdout=logs["worker"], stderr=subprocess.STDOUT
        ),
    }
    try:
        _wait_for_port(port, processes["web"])
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()


@pytest.fixture
def erp():
    """The ERP's stock endpoint; it answers only once the test releases `erp.hold`."""
    server = StockHttpServer(hold=threading.Event())
    server.json(
        "/api/stock",
        {
            "items": [
                {"sku": "A-100", "qty": 5},
                {"sku": "B-200", "qty": 7},
                {"sku": "NEW-77", "qty": 3},
                {"sku": "C-300", "qty": "many"},
            ]
        },
    )
    yield server
    server.stop()


def test_sync_now_goes_from_syncing_to_completed_with_counts(site, erp, browser_page, screenshot, tmp_path):
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{site}/inventory/")
    assert "/login/" in page.url
    page.fill("#id_username", USER)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/inventory/")
    expect(page.locator("nav.nav a.active")).to_have_text("Inventory")

    # Products from a CSV file.
    page.get_by_role("link", name="Products", exact=True).click()
    catalogue = tmp_path / "products.csv"
    catalogue.write_text("sku,name\nA-100,Alpha\nB-200,Bravo\nC-300,Charlie\n")
    page.set_input_files("input[aria-label='Products CSV']", str(catalogue))
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".flash-success")).to_contain_text("Imported: 3 new products")
    expect(page.locator("#product-table tbody tr")).to_have_count(3)

    # A REST source through the form.
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Add source").click()
    page.fill("#id_name", "Main ERP")
    page.select_option("#id_kind", "rest_api")
    page.select_option("#id_data_format", "json")
    page.fill("#id_quantity_field", "qty")
    page.fill("#id_json_list_path", "items")
    page.fill("#id_url", f"{erp.url}/api/stock")
    page.fill("#id_auth_token", "Bearer erp-secret-token")
    expect(page.locator("[data-kind-section=webhook]")).to_be_hidden()
    screenshot("inventory_source_form")
    page.get_by_role("button", name="Add source").click()
    expect(page.locator("h1")).to_have_text("Main ERP")
    expect(page.locator("#source-status")).to_have_text("Pending")
    expect(page.locator("body")).not_to_contain_text("erp-secret-token")

    # Sync now: the worker picks the run up and waits on the ERP, the page shows Syncing...
    page.get_by_role("button", name="Sync now").click()
    pill = page.locator("#active-run .pill")
    expect(pill).to_have_text("Syncing", timeout=30_000)
    expect(page.locator("#source-status")).to_have_text("Syncing")
    expect(page.locator("#active-run .progress.indeterminate")).to_be_visible()
    screenshot("inventory_syncing")
    # ...the ERP answers, and the partial (polling every 2 s) settles on the result.
    erp.hold.set()
    expect(pill).to_have_text("Completed", timeout=30_000)
    counts = page.locator("#active-run .run-counts")
    expect(counts).to_contain_text("4 records")
    expect(counts).to_contain_text("2 products updated")
    expect(counts).to_contain_text("1 unmapped")
    expect(counts).to_contain_text("1 invalid")
    expect(page.locator("#source-status")).to_have_text("Completed")
    expect(page.locator("#run-history tbody tr")).to_have_count(1)
    expect(page.locator("#unmapped-table")).to_contain_text("NEW-77")
    expect(page.locator("#invalid-table")).to_contain_text("quantity 'many' is not a whole number")
    expect(page.locator("#last-success")).not_to_contain_text("never")
    assert erp.requests[0].headers["Authorization"] == "Bearer erp-secret-token"
    screenshot("inventory_source_detail")

    # One click turns the unmapped SKU into a product with the quantity the run read.
    page.locator("#unmapped-table").get_by_role("button", name="Create product").click()
    expect(page.locator(".flash-success")).to_contain_text("Product NEW-77 created")
    expect(page.locator("#unmapped-table")).to_contain_text("product exists")
    page.get_by_role("link", name="Products", exact=True).click()
    row = page.locator("#product-table tbody tr", has_text="NEW-77")
    expect(row.locator("td.strong")).to_have_text("3")
    expect(page.locator("#product-table tbody tr", has_text="A-100").locator("td.strong")).to_have_text("5")
    screenshot("inventory_products")
    page.get_by_role("link", name="A-100").click()
    expect(page.locator("#available")).to_have_text("5")
    expect(page.locator("#push-log")).to_contain_text("Nothing pushed yet")
    screenshot("inventory_product_detail")

    page.get_by_role("link", name="Sources").click()
    expect(page.locator("#source-table tbody tr")).to_have_count(1)
    expect(page.locator("#source-table")).to_contain_text("Completed")
    screenshot("inventory_sources")
