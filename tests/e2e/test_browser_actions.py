"""A merchant ships an order from its page in a real browser, against the sandbox marketplace:
the shipment shows "Fulfillment pending" while the push is under way, then turns "Prepared"
without a reload, and the sandbox holds exactly one fulfilment. Then bulk "Mark shipped" from
the list and the list's shipments filter.

Tasks run the way a django-q2 worker runs them: in another thread, after the request's commit,
not inside the request; the sandbox answers the fulfilment mutation 2 s late, so the pending
state is there to be seen."""

import queue
import re
import threading
import time
from collections import defaultdict

import pytest
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import connection, connections
from django.db.backends.signals import connection_created

from channels.models import SyncRun
from channels.sandbox import SandboxServer
from channels.services import channel_create
from orders.models import Order, Shipment
from orders.sync import sync_run_start
from tests.conftest import _run_task_now

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOP = "ship-demo.myshopify.com"
TOKEN = "shpat_ship_demo_token"
SECRET = "shpss_ship_demo_secret"
FULFILLMENT_CREATE = "FeniciaFulfillmentCreate"  # the adapter's mutation, as the sandbox names it


@pytest.fixture
def sandbox():
    with SandboxServer(seed=31) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret=SECRET)
        yield server


@pytest.fixture
def imported(sandbox):
    """Four paid, unfulfilled orders of two lines each, imported through the real adapter."""
    sandbox.state.create_orders(SHOP, 4, lines=2, financial_status="paid", spread_days=2)
    channel = channel_create(
        kind="shopify",
        name="Demo store",
        api_base_url=sandbox.url,
        credentials={"shop": SHOP, "access_token": TOKEN},
        webhook_secret=SECRET,
    )
    run = sync_run_start(channel=channel, kind=SyncRun.Kind.IMPORT)  # in-process, before the worker starts
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return list(Order.objects.order_by("-placed_at", "-id"))


class Worker:
    """One django-q2-like worker: a thread of its own running tasks one after the other. A task
    enqueued during a request starts once that request has answered (as a real worker picks it
    up after the commit, never inside the request)."""

    def __init__(self):
        self.tasks: queue.Queue = queue.Queue()
        self.held: dict[int, list] = defaultdict(list)  # request thread -> its tasks, until it answers
        self.requests: set[int] = set()
        self.lock = threading.Lock()
        self.failures: list[BaseException] = []
        self.thread = threading.Thread(target=self._loop, name="worker", daemon=True)
        self.thread.start()

    def async_task(self, func, *args, **kwargs):
        with self.lock:
            if threading.get_ident() in self.requests:
                self.held[threading.get_ident()].append((func, args))
                return
        self.tasks.put((func, args))

    def request_started(self, **kwargs):
        with self.lock:
            self.requests.add(threading.get_ident())

    def request_finished(self, **kwargs):
        with self.lock:
            self.requests.discard(threading.get_ident())
            for task in self.held.pop(threading.get_ident(), []):
                self.tasks.put(task)

    def _loop(self):
        while True:
            task = self.tasks.get()
            if task is None:
                break
            func, args = task
            try:
                _run_task_now(func, *args)
            except BaseException as exc:  # reported by settle(), not lost in the thread
                self.failures.append(exc)
            finally:
                connections.close_all()
                self.tasks.task_done()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every task enqueued so far has run."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                held = any(self.held.values())
            if not held and self.tasks.unfinished_tasks == 0:
                break
            assert time.monotonic() < deadline, "the worker did not finish in time"
            time.sleep(0.05)
        assert not self.failures, self.failures

    def stop(self):
        self.tasks.put(None)
        self.thread.join(10)


@pytest.fixture
def worker(imported, monkeypatch):
    """From here on, enqueued tasks run on the worker's thread, not in the request."""
    worker = Worker()

    # The test database is SQLite in memory with a shared cache, where a reader would wait on
    # (or fail against) the worker's writes: let readers read, as WAL does for the real file.
    def read_uncommitted(sender, connection, **kwargs):
        if connection.vendor == "sqlite":
            connection.cursor().execute("PRAGMA read_uncommitted = 1")

    read_uncommitted(None, connection)
    connection_created.connect(read_uncommitted)
    request_started.connect(worker.request_started)
    request_finished.connect(worker.request_finished)
    monkeypatch.setattr("fenicia.tasks.async_task", worker.async_task)
    yield worker
    try:
        worker.settle()
    finally:
        request_started.disconnect(worker.request_started)
        request_finished.disconnect(worker.request_finished)
        connection_created.disconnect(read_uncommitted)
        worker.stop()


@pytest.fixture
def merchant(transactional_db):
    return get_user_model().objects.create_user(username="merchant", password="correct-horse", is_staff=True)


def _sign_in(page, live_server):
    page.goto(f"{live_server.url}/orders/")
    assert "/login/" in page.url
    page.fill("#id_username", "merchant")
    page.fill("#id_password", "correct-horse")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/orders/")


def test_merchant_ships_an_order_and_watches_it_become_prepared(
    live_server, browser_page, screenshot, sandbox, imported, worker, merchant
):
    from playwright.sync_api import expect

    page = browser_page
    order = imported[0]
    _sign_in(page, live_server)

    # The order's page offers "Mark as shipped", every line at its remaining quantity.
    page.get_by_role("link", name=order.number, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/orders/{order.pk}/$"))
    actions = page.locator("#order-actions")
    expect(actions.locator("#action-ship")).to_have_attribute("open", "")
    quantities = actions.locator("input.qty")
    expect(quantities).to_have_count(2)
    for index, line in enumerate(order.lines.order_by("position", "id")):
        expect(quantities.nth(index)).to_have_value(str(line.quantity))
    expect(page.locator("#order-shipments")).to_contain_text("Not shipped yet.")
    page.fill("#id_carrier", "UPS")
    page.fill("#id_tracking_number", "1Z999AA10123456784")
    page.get_by_label("Notify the customer").first.check()
    screenshot("actions_order_detail")

    # The channel takes 2 s to accept: the worker's push is under way while we look.
    sandbox.state.faults.slow(2.0, count=1, operation=FULFILLMENT_CREATE)
    page.get_by_role("button", name="Mark as shipped").click()
    badge = page.locator("#order-shipments [data-push-badge]")
    expect(badge).to_have_text("Fulfillment pending")
    expect(page.locator("#order-shipments .card-header .live")).to_contain_text("Waiting for Shopify")
    units = sum(line.quantity for line in order.lines.all())
    expect(actions).to_contain_text(
        f"Marked {units} unit{'s' if units != 1 else ''} shipped with UPS (1Z999AA10123456784)"
    )
    expect(actions).to_contain_text("Every line has already been shipped.")  # the card caught up at once
    expect(page.locator("#order-state")).to_contain_text("Fulfilled")
    screenshot("actions_shipment_pending")

    # The shipments card polls itself: "Prepared" arrives without a reload, and polling stops.
    expect(badge).to_have_text("Prepared", timeout=20_000)
    expect(page.locator("#order-shipments .card-header .live")).to_have_count(0)
    expect(page.locator("#order-shipments")).not_to_contain_text("Sync shipment")
    expect(page.locator("#timeline")).to_contain_text("Shipment accepted by Shopify")
    expect(page.locator("#order-shipments tbody.shipment code").first).to_have_text("1Z999AA10123456784")
    page.locator("#order-shipments details.attempts summary").click()
    expect(page.locator("#order-shipments .attempts-table")).to_contain_text("Accepted")
    screenshot("actions_shipment_prepared")

    worker.settle()
    shipment = Shipment.objects.get(order=order)
    assert shipment.push_state == Shipment.PushState.ACCEPTED
    assert len(sandbox.state.mutations("fulfillmentCreate", ok=True)) == 1
    (fulfillment,) = sandbox.state.fulfillments(SHOP, order.external_id)
    assert str(fulfillment["id"]) == shipment.external_id
    assert (fulfillment["tracking_company"], fulfillment["tracking_number"]) == ("UPS", "1Z999AA10123456784")
    assert fulfillment["notify_customer"] is True

    # The list: bulk "Mark shipped" two more orders with one carrier, then filter by shipments.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    rows = page.locator("table.orders-table tbody tr")
    expect(rows).to_have_count(4)
    for other in imported[1:3]:
        page.get_by_label(f"Select order {other.number}").check()
    page.fill("#bulk-carrier", "DHL Express")
    page.get_by_role("button", name="Mark shipped").click()
    expect(page.locator(".flash-success")).to_contain_text("Marked 2 orders shipped with DHL Express.")
    worker.settle()
    page.select_option("select[name=shipments]", "prepared")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(3)
    expect(page.locator("table.orders-table")).to_contain_text("Prepared")
    expect(page.locator("table.orders-table")).not_to_contain_text(imported[3].number)
    screenshot("actions_order_list")

    page.select_option("select[name=shipments]", "pending")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".empty")).to_contain_text("No orders match these filters.")
    assert len(sandbox.state.mutations("fulfillmentCreate", ok=True)) == 3
    assert Shipment.objects.filter(push_state=Shipment.PushState.ACCEPTED).count() == 3


def test_a_refused_push_requires_shipment_synchronization_until_synced_again(
    live_server, browser_page, screenshot, sandbox, imported, worker, merchant
):
    from playwright.sync_api import expect

    page = browser_page
    order = imported[0]
    _sign_in(page, live_server)
    page.goto(live_server.url + order.get_absolute_url())

    # Shopify answers 503 to every attempt: after the third the order requires synchronization.
    sandbox.state.faults.inject(503, count=3, operation=FULFILLMENT_CREATE)
    page.fill("#id_carrier", "FedEx")
    page.get_by_role("button", name="Mark as shipped").click()
    banner = page.locator("#requires-sync")
    expect(banner).to_contain_text("Requires shipment synchronization", timeout=20_000)
    expect(banner).to_contain_text("503")
    shipment = page.locator("#order-shipments tbody.shipment")
    expect(shipment.locator("[data-push-badge]")).to_have_text("Requires shipment synchronization")
    attempts = shipment.locator(".attempts-table tbody tr")
    expect(attempts).to_have_count(3)  # shown open: the push failed
    expect(attempts.nth(0)).to_contain_text("1.5 s")
    expect(attempts.nth(1)).to_contain_text("3.0 s")
    screenshot("actions_requires_sync")

    page.goto(live_server.url + "/")
    card = page.locator("#requires-shipment-sync")
    expect(card).to_contain_text(order.number)
    screenshot("actions_dashboard")
    card.get_by_role("link", name=order.number).click()

    # The channel is back: "Sync shipment" pushes it again and it turns Prepared.
    page.get_by_role("button", name="Sync shipment", exact=True).click()
    expect(shipment.locator("[data-push-badge]")).to_have_text("Prepared", timeout=20_000)
    expect(banner).to_have_count(0)
    expect(shipment.locator("details.attempts")).not_to_have_attribute("open", "")  # closed once accepted
    expect(shipment.locator("details.attempts summary")).to_have_text("Push attempts (4)")
    worker.settle()
    assert len(sandbox.state.mutations("fulfillmentCreate", ok=True)) == 1
    assert len(sandbox.state.fulfillments(SHOP, order.external_id)) == 1
