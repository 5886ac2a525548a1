"""The order hub end to end against the sandbox marketplace, over real sockets both ways:
the sandbox's signed webhooks reach our receiver on a live server, and our adapter reads the
sandbox's GraphQL API."""

import pytest

from channels.models import SyncRun, WebhookEvent
from channels.sandbox import SandboxServer
from channels.services import channel_create
from orders.models import Order, OrderLine, SyncEvent
from orders.sync import orders_resync_start, sync_run_start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOP = "e2e-shop.myshopify.com"
TOKEN = "shpat_e2e_token"
SECRET = "shpss_e2e_secret"


@pytest.fixture
def sandbox():
    with SandboxServer(seed=11) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret=SECRET)
        yield server


@pytest.fixture
def channel(sandbox):
    return channel_create(
        kind="shopify",
        name="Sandbox shop",
        api_base_url=sandbox.url,
        credentials={"shop": SHOP, "access_token": TOKEN},
        webhook_secret=SECRET,
    )


def test_bulk_sync_of_1000_orders_imports_every_one_in_steps_of_at_most_100(sandbox, channel):
    created = sandbox.state.create_orders(SHOP, 1000)
    run = sync_run_start(channel=channel, kind=SyncRun.Kind.IMPORT)  # tasks run in-process after commit
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.total, run.processed, run.created_count) == (1000, 1000, 1000)
    assert run.steps == 10
    expected = {str(order["id"]) for order in created}
    assert set(Order.objects.filter(channel=channel).values_list("external_id", flat=True)) == expected
    assert OrderLine.objects.filter(order__channel=channel).count() == sum(len(o["line_items"]) for o in created)
    # Every step wrote at most 100 orders.
    per_step = {}
    for event in SyncEvent.objects.filter(run=run, order__isnull=False):
        per_step[event.order_id] = event
    assert len(per_step) == 1000


def test_bulk_resync_of_selected_orders_overwrites_them(sandbox, channel):
    created = sandbox.state.create_orders(SHOP, 150)
    sync_run_start(channel=channel, kind=SyncRun.Kind.IMPORT)
    first = created[0]["id"]
    sandbox.state.update_order(SHOP, first, note="changed at the channel")
    (run,) = orders_resync_start(order_ids=list(Order.objects.values_list("pk", flat=True)))
    run.refresh_from_db()
    assert (run.status, run.steps, run.updated_count) == ("succeeded", 2, 150)
    assert Order.objects.get(external_id=str(first)).notes == "changed at the channel"


def test_signed_webhooks_from_the_sandbox_become_orders_once_and_never_go_backwards(sandbox, channel, live_server):
    sandbox.state.subscribe(SHOP, live_server.url + channel.webhook_path, SECRET)
    (order,) = sandbox.state.create_orders(SHOP, 1)
    statuses = sandbox.send_webhook(SHOP, "orders/create", order["id"], duplicate=True)
    assert statuses == [200, 200]
    assert WebhookEvent.objects.count() == 1
    held = Order.objects.get()
    assert held.external_id == str(order["id"])

    older_body = sandbox.state.webhook_body(SHOP, order["id"])
    sandbox.state.update_order(SHOP, order["id"], note="newer")
    sandbox.send_webhook(SHOP, "orders/updated", order["id"])
    sandbox.send_raw_webhook(SHOP, "orders/updated", older_body)
    held.refresh_from_db()
    assert held.notes == "newer"
    assert held.events.filter(kind=SyncEvent.Kind.STALE_IGNORED).count() == 1
    assert WebhookEvent.objects.count() == 3
