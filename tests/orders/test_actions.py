"""Staff actions flow back to the channel: durable, retried by the documented policy, visible.

The adapter is replaced at our own seam (its push methods); the real Shopify calls are covered
in tests/channels/adapters/test_shopify_outbound.py and against the sandbox in tests/e2e."""

import pytest

from channels.adapters.base import (
    AuthExpired,
    Capability,
    InvalidData,
    PushResult,
    RateLimited,
    TransientError,
)
from channels.adapters.shopify import ShopifyAdapter
from channels.models import ChannelStatus
from fenicia.models import Notification
from orders.actions import (
    ActionRefused,
    ShipLine,
    action_availability,
    operation_push,
    order_cancel,
    order_ship,
    shipment_add_tracking,
    shipment_sync,
    shipments_sync_bulk,
)
from orders.models import OutboundOperation, PushAttempt, Shipment, SyncEvent
from orders.services import orders_upsert
from tests.factories import normalized_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def waits(monkeypatch):
    recorded = []
    monkeypatch.setattr("channels.http._sleep", recorded.append)
    return recorded


@pytest.fixture
def order(shopify_channel):
    orders_upsert(channel=shopify_channel, orders=[normalized_order("501", lines=2)], source="webhook")
    return shopify_channel.orders.get()


def lines_of(order):
    return list(order.lines.order_by("position"))


class TestMarkShipped:
    def test_shipping_everything_records_a_pending_push_that_the_channel_accepts(
        self, order, channel_pushes, run_tasks
    ):
        channel = channel_pushes(PushResult(external_id="9001"))
        with run_tasks():
            shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999", notify_customer=True)
        shipment.refresh_from_db()
        order.refresh_from_db()
        assert (order.status, order.fulfillment_status) == ("shipped", "fulfilled")
        assert (shipment.push_state, shipment.external_id) == (Shipment.PushState.ACCEPTED, "9001")
        (push,) = channel.calls
        assert [(line.line_external_id, line.quantity) for line in push.lines] == [("501-0", 1), ("501-1", 2)]
        assert (push.carrier, push.tracking_number, push.notify_customer) == ("UPS", "1Z999", True)
        messages = list(order.events.order_by("id").values_list("message", flat=True))
        assert messages[-2].startswith("Marked shipped (3 units, UPS 1Z999)")
        assert messages[-1] == "Shipment accepted by Shopify, fulfilment 9001"
        assert not order.requires_shipment_sync

    def test_a_partial_shipment_leaves_the_order_accepted_and_partially_fulfilled(self, order, channel_pushes):
        channel_pushes(PushResult(external_id="9001"))
        first, second = lines_of(order)
        order_ship(order=order, carrier="DHL", lines=[ShipLine(second.pk, 1)])
        order.refresh_from_db()
        assert (order.status, order.fulfillment_status) == ("accepted", "partially_fulfilled")
        order_ship(order=order, carrier="DHL", lines=[ShipLine(first.pk, 1), ShipLine(second.pk, 1)])
        order.refresh_from_db()
        assert (order.status, order.fulfillment_status) == ("shipped", "fulfilled")

    @pytest.mark.parametrize(
        ("lines", "message"),
        [
            ("empty", "at least one line"),
            ("zero", "at least one line"),
            ("too many", "Only 1 of SKU-0 remain to ship; 5 requested"),
        ],
    )
    def test_invalid_shipments_are_refused_with_a_clear_message(self, order, channel_pushes, lines, message):
        first, _ = lines_of(order)
        chosen = {"empty": [], "zero": [ShipLine(first.pk, 0)], "too many": [ShipLine(first.pk, 5)]}[lines]
        with pytest.raises(ActionRefused, match=message) as refused:
            order_ship(order=order, carrier="UPS", lines=chosen)
        assert refused.value.field == "lines"
        assert not Shipment.objects.exists() and not OutboundOperation.objects.exists()

    def test_a_channel_without_the_capability_refuses_and_says_why(self, order, monkeypatch):
        monkeypatch.setattr(ShopifyAdapter, "capabilities", frozenset({Capability.WEBHOOKS}))
        with pytest.raises(ActionRefused, match="Shopify does not support marking orders shipped"):
            order_ship(order=order, carrier="UPS")
        availability = action_availability(order)
        assert "does not support" in availability["ship"] and "does not support" in availability["cancel"]


class TestRetryPolicy:
    def test_503_503_200_is_one_fulfilment_after_three_attempts_at_the_documented_waits(
        self, order, channel_pushes, waits, run_tasks
    ):
        channel = channel_pushes(
            TransientError("HTTP 503", status=503),
            TransientError("HTTP 503", status=503),
            PushResult(external_id="9001"),
        )
        with run_tasks():
            shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999")
        assert waits == [1.5, 3.0]
        assert len(channel.calls) == 3
        operation = OutboundOperation.objects.get()
        assert (operation.state, operation.attempts) == ("succeeded", 3)
        assert list(PushAttempt.objects.values_list("number", "http_status", "succeeded")) == [
            (1, 503, False),
            (2, 503, False),
            (3, None, True),
        ]
        shipment.refresh_from_db()
        assert shipment.push_state == Shipment.PushState.ACCEPTED

    def test_retry_after_longer_than_the_backoff_is_honoured(self, order, channel_pushes, waits, run_tasks):
        channel_pushes(RateLimited("429", retry_after=7.0, status=429), PushResult(external_id="1"))
        with run_tasks():
            order_ship(order=order, carrier="UPS")
        assert waits == [7.0]

    def test_three_failures_require_shipment_synchronization_then_manual_sync_succeeds(
        self, order, channel_pushes, waits, run_tasks
    ):
        channel_pushes(TransientError("HTTP 503 from POST /admin/api/2026-10/graphql.json", status=503))
        with run_tasks():
            shipment = order_ship(order=order, carrier="UPS", tracking_number="1Z999")
        order.refresh_from_db()
        shipment.refresh_from_db()
        assert order.requires_shipment_sync
        assert shipment.push_state == Shipment.PushState.FAILED
        assert waits == [1.5, 3.0]
        failure = order.events.filter(kind=SyncEvent.Kind.PUSH, outcome="failure").get()
        assert "after 3 attempts" in failure.message
        assert [a["http_status"] for a in failure.details["attempts"]] == [503, 503, 503]
        assert Notification.objects.filter(title__contains="requires shipment synchronization").exists()

        channel_pushes(PushResult(external_id="9001"))
        with run_tasks():
            assert shipment_sync(shipment=shipment) == 1
        order.refresh_from_db()
        shipment.refresh_from_db()
        assert not order.requires_shipment_sync
        assert (shipment.push_state, shipment.external_id) == (Shipment.PushState.ACCEPTED, "9001")
        assert OutboundOperation.objects.get().attempts == 4

    def test_auth_failure_is_not_retried_and_the_channel_needs_reconnecting(
        self, order, channel_pushes, waits, run_tasks
    ):
        channel = channel_pushes(AuthExpired("HTTP 401", status=401))
        with run_tasks():
            order_ship(order=order, carrier="UPS")
        assert len(channel.calls) == 1 and waits == []
        order.channel.refresh_from_db()
        assert order.channel.status == ChannelStatus.NEEDS_RECONNECT
        assert OutboundOperation.objects.get().state == "failed"

    def test_a_refusal_by_the_channel_is_not_retried_and_its_message_is_shown(
        self, order, channel_pushes, waits, run_tasks
    ):
        channel_pushes(InvalidData("Shopify: Fulfillment order 123 has an unfulfillable status= closed.", status=200))
        with run_tasks():
            order_ship(order=order, carrier="UPS")
        assert waits == []
        order.refresh_from_db()
        assert order.requires_shipment_sync
        assert "unfulfillable status" in order.events.filter(outcome="failure").get().message

    def test_an_operation_already_claimed_by_another_worker_is_not_pushed_twice(self, order, channel_pushes):
        channel = channel_pushes(PushResult(external_id="9001"))
        order_ship(order=order, carrier="UPS")  # queued; no task ran (no commit in this test)
        operation = OutboundOperation.objects.get()
        assert operation_push(operation_id=operation.pk) == "succeeded"
        assert operation_push(operation_id=operation.pk) == "skipped"
        assert len(channel.calls) == 1


class TestTrackingAndCancel:
    def test_tracking_on_an_accepted_shipment_is_its_own_push(self, order, channel_pushes, run_tasks):
        channel_pushes(PushResult(external_id="9001"))
        tracking = channel_pushes(PushResult(external_id="9001"), method="push_tracking")
        with run_tasks():
            shipment = order_ship(order=order, carrier="UPS")
        with run_tasks():
            shipment_add_tracking(shipment=shipment, carrier="UPS", tracking_number="1Z777")
        (push,) = tracking.calls
        assert (push.shipment_external_id, push.tracking_number) == ("9001", "1Z777")
        assert OutboundOperation.objects.filter(kind="tracking", state="succeeded").exists()

    def test_tracking_on_a_shipment_still_pending_travels_with_it(self, order, channel_pushes):
        channel_pushes(PushResult(external_id="9001"))
        shipment = order_ship(order=order, carrier="UPS")
        assert shipment_add_tracking(shipment=shipment, carrier="UPS", tracking_number="1Z777") is None
        assert OutboundOperation.objects.count() == 1
        shipment.refresh_from_db()
        assert shipment.tracking_number == "1Z777"

    def test_cancel_changes_the_order_and_pushes(self, order, channel_pushes, run_tasks):
        channel = channel_pushes(PushResult(), method="cancel_order")
        with run_tasks():
            order_cancel(order=order, reason="customer", notify_customer=True)
        order.refresh_from_db()
        assert order.status == "cancelled"
        (push,) = channel.calls
        assert (push.order_external_id, push.reason, push.notify_customer) == ("501", "customer", True)
        assert order.events.first().message == "Cancellation accepted by Shopify"

    def test_cancel_after_ship_is_refused(self, order, channel_pushes):
        channel_pushes(PushResult(external_id="9001"))
        order_ship(order=order, carrier="UPS")
        with pytest.raises(ActionRefused, match="has shipped") as refused:
            order_cancel(order=order, reason="customer")
        assert refused.value.conflict
        assert action_availability(order)["cancel"].startswith("The order has shipped")

    def test_unknown_cancel_reasons_are_refused(self, order, channel_pushes):
        with pytest.raises(ActionRefused, match="reason must be one of"):
            order_cancel(order=order, reason="bored")


class TestLabels:
    def test_pdf_labels_are_stored_and_html_labels_converted(self, order, channel_pushes, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        channel_pushes(PushResult(external_id="9001"))
        pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF"
        first, second = lines_of(order)
        shipment = order_ship(
            order=order, carrier="UPS", lines=[ShipLine(first.pk, 1)], label=(pdf, "ups.pdf", "application/pdf")
        )
        assert shipment.label.read() == pdf
        html = b"<html><body><h1>UPS</h1><p>1Z999</p></body></html>"
        other = order_ship(
            order=order, carrier="UPS", lines=[ShipLine(second.pk, 1)], label=(html, "label.html", "text/html")
        )
        assert other.label.name.endswith(".pdf") and other.label.read().startswith(b"%PDF-")
        assert order.events.filter(kind=SyncEvent.Kind.LABEL).count() == 2

    def test_other_files_are_refused(self, order, channel_pushes):
        channel_pushes(PushResult(external_id="9001"))
        with pytest.raises(ActionRefused, match="PDF or an HTML"):
            order_ship(order=order, carrier="UPS", label=(b"GIF89a...", "label.gif", "image/gif"))
        assert not Shipment.objects.exists()


class TestBulkShipmentSync:
    def test_everything_pending_is_pushed_in_tasks_of_at_most_100(
        self, shopify_channel, channel_pushes, monkeypatch, django_capture_on_commit_callbacks
    ):
        channel_pushes(PushResult(external_id="1"))
        orders_upsert(
            channel=shopify_channel, source="poll", orders=[normalized_order(str(n), lines=1) for n in range(250)]
        )
        enqueued = []
        monkeypatch.setattr("fenicia.tasks.async_task", lambda func, *args, **kw: enqueued.append((func, args)))
        with django_capture_on_commit_callbacks(execute=True):
            for order in shopify_channel.orders.all():
                order_ship(order=order, carrier="UPS")
        OutboundOperation.objects.update(state="failed")
        enqueued.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert shipments_sync_bulk() == 250
        batches = [args[0] for func, args in enqueued if func == "orders.tasks.push_operations"]
        assert [len(b) for b in batches] == [100, 100, 50]
        assert sorted(i for b in batches for i in b) == sorted(OutboundOperation.objects.values_list("pk", flat=True))
