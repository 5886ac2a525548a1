"""A merchant in a real browser: sign in, import orders from the sandbox marketplace, browse
them, press Sync on one and watch its timeline grow, re-sync a selection in bulk."""

import re

import pytest
from django.contrib.auth import get_user_model

from channels.models import SyncRun
from channels.sandbox import SandboxServer
from channels.services import channel_create
from orders.models import Order

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOP = "demo.myshopify.com"
TOKEN = "shpat_browser_token"
SECRET = "shpss_browser_secret"


@pytest.fixture
def sandbox():
    with SandboxServer(seed=5) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret=SECRET)
        yield server


@pytest.fixture
def channel(sandbox):
    return channel_create(
        kind="shopify",
        name="Demo store",
        api_base_url=sandbox.url,
        credentials={"shop": SHOP, "access_token": TOKEN},
        webhook_secret=SECRET,
    )


@pytest.fixture
def merchant(transactional_db):
    return get_user_model().objects.create_user(username="merchant", password="correct-horse", is_staff=True)


def _sign_in(page, live_server):
    page.goto(f"{live_server.url}/orders/")
    assert "/login/" in page.url  # login required
    page.fill("#id_username", "merchant")
    page.fill("#id_password", "correct-horse")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/orders/")


def test_merchant_imports_browses_and_syncs_an_order(live_server, browser_page, screenshot, sandbox, channel, merchant):
    from playwright.sync_api import expect

    page = browser_page
    sandbox.state.create_orders(SHOP, 6, spread_days=6)
    _sign_in(page, live_server)
    expect(page.locator(".empty")).to_contain_text("No orders yet")

    # "Sync orders" on the channel page: the run's partial comes back and settles on Succeeded.
    page.goto(live_server.url + channel.get_absolute_url())
    expect(page.locator("body")).not_to_contain_text(TOKEN)
    page.get_by_role("button", name="Sync orders").click()
    expect(page.locator("#active-run .pill")).to_have_text("Succeeded")
    expect(page.locator("#active-run")).to_contain_text("6 new")
    expect(page.locator("#run-history tbody tr")).to_have_count(1)
    expect(page.locator("#channel-events")).to_contain_text("Sync orders finished: 6 orders read, 6 new")
    expect(page.locator("#channel-connection")).not_to_contain_text("never")
    screenshot("channel_detail")

    page.goto(live_server.url + "/")
    expect(page.locator(".stat").first).to_contain_text("Orders today")
    expect(page.locator(".chart-col .seg").first).to_be_visible()
    screenshot("dashboard")

    # The list, filtered and searched from the page's own form.
    page.get_by_role("link", name="Orders").click()
    rows = page.locator("table.orders-table tbody tr")
    expect(rows).to_have_count(6)
    held = Order.objects.order_by("-placed_at", "-id").first()
    page.fill("input[name=q]", held.number)
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(6)

    # Bulk: "select all on page" enables the button; the runs' progress replaces itself until done.
    bulk = page.get_by_role("button", name="Re-sync selected")
    expect(bulk).to_be_disabled()
    page.get_by_label("Select all orders on this page").check()
    expect(page.locator("[data-selected-count]")).to_have_text("6 selected")
    bulk.click()
    expect(page.locator("#resync-runs .pill")).to_have_text("Succeeded")
    assert SyncRun.objects.filter(kind=SyncRun.Kind.RESYNC, status=SyncRun.Status.SUCCEEDED).count() == 1
    screenshot("order_list")

    # One order: press Sync and watch the timeline grow by the request and its result.
    page.get_by_role("link", name=held.number, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/orders/{held.pk}/$"))
    timeline = page.locator("#timeline .tl-item")
    before = timeline.count()
    assert before >= 2  # imported, then updated by the bulk re-sync
    sandbox.state.update_order(SHOP, held.external_id, note="Leave at the back door", notify=False)
    page.get_by_role("button", name="Sync", exact=True).click()
    expect(timeline.first).to_contain_text("Updated from a manual sync")
    expect(timeline).to_have_count(before + 2)
    expect(page.locator("#timeline")).to_contain_text("Sync requested")
    expect(page.locator("#timeline .live")).to_have_count(0)  # the result is in: polling stopped
    expect(page.locator("#order-aside")).to_contain_text("Leave at the back door")  # swapped in, no reload
    page.locator("#timeline details summary").first.click()
    screenshot("order_detail")

    held.refresh_from_db()
    assert held.notes == "Leave at the back door"
