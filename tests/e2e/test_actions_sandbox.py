"""Staff actions reach the sandbox marketplace over real sockets: the whole path from
`order_ship` through the push task, the retry policy and the real adapter, to the fulfilment
the sandbox records."""

import pytest

from channels.models import SyncRun
from channels.sandbox import SandboxServer
from channels.services import channel_create
from fenicia.models import Notification
from orders.actions import ActionRefused, ShipLine, order_cancel, order_ship, shipment_sync
from orders.models import Order, OutboundOperation, PushAttempt, Shipment
from orders.sync import sync_run_start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOP = "actions-shop.myshopify.com"
TOKEN = "shpat_actions_token"
CREATE = "FeniciaFulfillmentCreate"


@pytest.fixture
def sandbox():
    with SandboxServer(seed=5) as server:
        server.state.add_shop(SHOP, token=TOKEN, webhook_secret="s")
        yield server


@pytest.fixture
def order(sandbox):
    (created,) = sandbox.state.create_orders(SHOP, 1, lines=2, financial_status="paid")
    channel = channel_create(
        kind="shopify",
        name="Actions shop",
        api_base_url=sandbox.url,
        credentials={"shop": SHOP, "access_token": TOKEN},
        webhook_secret="s",
    )
    sync_run_start(channel=channel, kind=SyncRun.Kind.IMPORT)
    return Order.objects.get(external_id=str(created["id"]))


@pytest.fixture
def waits(monkeypatch):
    recorded = []
    monkeypatch.setattr("channels.http._sleep", recorded.append)
    return recorded


def test_503_503_then_accepted_is_one_fulfilment_after_three_attempts(sandbox, order, waits):
    sandbox.state.faults.inject(503, count=2, operation=CREATE)
    shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999AA10123456784")
    shipment.refresh_from_db()
    assert shipment.push_state == Shipment.PushState.ACCEPTED
    assert waits == [1.5, 3.0]
    assert PushAttempt.objects.filter(operation__shipment=shipment).count() == 3
    fulfilments = sandbox.state.fulfillments(SHOP, order.external_id)
    assert len(fulfilments) == 1
    assert shipment.external_id in str(fulfilments[0]["id"])


def test_three_503s_require_shipment_sync_and_a_manual_sync_then_succeeds(sandbox, order, waits):
    sandbox.state.faults.inject(503, count=3, operation=CREATE)
    shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999AA10123456784")
    order.refresh_from_db()
    assert order.requires_shipment_sync
    assert Notification.objects.filter(title__contains="requires shipment synchronization").exists()
    assert sandbox.state.fulfillments(SHOP, order.external_id) == []

    shipment_sync(shipment=shipment)
    order.refresh_from_db()
    shipment.refresh_from_db()
    assert not order.requires_shipment_sync
    assert shipment.push_state == Shipment.PushState.ACCEPTED
    assert len(sandbox.state.fulfillments(SHOP, order.external_id)) == 1


def test_a_request_accepted_then_dropped_still_makes_exactly_one_fulfilment(sandbox, order, waits):
    sandbox.state.faults.drop_after_processing(count=1, operation=CREATE)
    shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999AA10123456784")
    shipment.refresh_from_db()
    assert shipment.push_state == Shipment.PushState.ACCEPTED
    operation = OutboundOperation.objects.get(shipment=shipment)
    assert operation.attempts == 2 and operation.result["already_done"] is True
    assert len(sandbox.state.fulfillments(SHOP, order.external_id)) == 1


def test_partial_shipments_then_cancel_is_refused(sandbox, order, waits):
    first, second = order.lines.order_by("position")
    order_ship(order=order, carrier="DHL", tracking_number="JD0001", lines=[ShipLine(first.pk, first.quantity)])
    order_ship(order=order, carrier="DHL", tracking_number="JD0002", lines=[ShipLine(second.pk, second.quantity)])
    assert len(sandbox.state.fulfillments(SHOP, order.external_id)) == 2
    order.refresh_from_db()
    assert order.fulfillment_status == "fulfilled"
    with pytest.raises(ActionRefused, match="has shipped"):
        order_cancel(order=order, reason="customer")


def test_cancel_reaches_the_channel(sandbox, order, waits):
    order_cancel(order=order, reason="inventory", restock=True)
    assert OutboundOperation.objects.get().state == "succeeded"
    assert sandbox.state.get_order(SHOP, order.external_id)["cancelled_at"]


def test_two_workers_picking_up_the_same_push_make_one_fulfilment(sandbox, order, waits, monkeypatch):
    import threading

    from django.db import connections

    from orders.actions import operation_push

    monkeypatch.setattr("fenicia.tasks.async_task", lambda *args, **kwargs: None)  # no worker of our own
    shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999AA10123456784")
    operation = OutboundOperation.objects.get(shipment=shipment)
    sandbox.state.faults.slow(0.5, count=1, operation=CREATE)  # keep the first push in flight
    barrier = threading.Barrier(2)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(operation_push(operation_id=operation.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["skipped", "succeeded"]
    assert len(sandbox.state.fulfillments(SHOP, order.external_id)) == 1
