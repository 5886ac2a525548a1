"""The webhook receiver: verify, store, enqueue, answer — and the drain that processes the inbox."""

import json

import pytest

from channels.models import WebhookEvent
from fenicia.models import Notification
from orders.models import Order, SyncEvent
from tests.channels.adapters.test_shopify import sign
from tests.conftest import fixture_bytes, load_fixture

pytestmark = pytest.mark.django_db


def deliver(client, channel, body: bytes, *, topic="orders/create", webhook_id="wh-1", signature=None):
    headers = {
        "HTTP_X_SHOPIFY_TOPIC": topic,
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id,
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": "test-shop.myshopify.com",
        "HTTP_X_SHOPIFY_API_VERSION": "2026-10",
    }
    if signature is not False:
        headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = sign(body) if signature is None else signature
    return client.post(channel.webhook_path, data=body, content_type="application/json", **headers)


def test_a_signed_delivery_is_stored_and_becomes_an_order(client, shopify_channel, run_tasks):
    body = fixture_bytes("shopify/webhook_orders_create.json")
    with run_tasks():
        response = deliver(client, shopify_channel, body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert bytes(event.body) == body and event.status == WebhookEvent.Status.PROCESSED
    assert event.headers["X-Shopify-Topic"] == "orders/create"
    order = Order.objects.get()
    assert (order.external_id, order.number, order.lines.count()) == ("5550001112223", "#1042", 1)
    assert order.events.get().message == "Imported from a webhook (orders/create)"


def test_the_same_webhook_five_times_makes_one_order_and_is_processed_once(client, shopify_channel, run_tasks):
    body = fixture_bytes("shopify/webhook_orders_create.json")
    with run_tasks():
        statuses = [deliver(client, shopify_channel, body).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert WebhookEvent.objects.count() == 1
    assert Order.objects.count() == 1
    assert SyncEvent.objects.filter(order__isnull=False).count() == 1


@pytest.mark.parametrize("signature", [False, "bm90IHRoZSBzaWduYXR1cmU=", ""])
def test_forged_or_unsigned_deliveries_are_refused_and_nothing_is_stored(client, shopify_channel, signature):
    body = fixture_bytes("shopify/webhook_orders_create.json")
    response = deliver(client, shopify_channel, body, signature=signature)
    assert response.status_code == 401
    assert WebhookEvent.objects.count() == 0 and Order.objects.count() == 0


def test_a_body_signed_for_another_channel_is_refused(client, shopify_channel):
    body = fixture_bytes("shopify/webhook_orders_create.json")
    assert deliver(client, shopify_channel, body, signature=sign(body, "another-shops-secret")).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_unknown_channels_are_404(client, shopify_channel):
    response = client.post(
        f"/webhooks/shopify/{shopify_channel.pk + 100}/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_a_malformed_body_is_stored_reported_and_replayable(client, shopify_channel, run_tasks):
    from channels.services import webhook_replay

    body = b'{"id": 5550001112223, "name": "#1042", "updated_at": "not a time"'
    with run_tasks():
        assert deliver(client, shopify_channel, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.FAILED
    assert "not valid JSON" in event.error
    assert bytes(event.body) == body
    assert SyncEvent.objects.filter(channel=shopify_channel, outcome="failure", kind="webhook").exists()
    assert Notification.objects.filter(title__contains="webhook could not be processed").exists()
    assert Order.objects.count() == 0

    # After a fix (here: the stored body repaired by an operator), a replay processes it.
    WebhookEvent.objects.filter(pk=event.pk).update(body=fixture_bytes("shopify/webhook_orders_create.json"))
    event.refresh_from_db()
    with run_tasks():
        webhook_replay(event=event)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 2
    assert Order.objects.count() == 1


def test_an_older_update_after_a_newer_one_is_ignored_and_on_the_timeline(client, shopify_channel, run_tasks):
    older = load_fixture("shopify/webhook_orders_create.json")
    newer = dict(older, updated_at="2026-11-20T11:00:00-03:00", financial_status="refunded", note="refunded")
    with run_tasks():
        deliver(client, shopify_channel, json.dumps(newer).encode(), topic="orders/updated", webhook_id="wh-new")
        deliver(client, shopify_channel, json.dumps(older).encode(), topic="orders/updated", webhook_id="wh-old")
    order = Order.objects.get()
    assert order.payment_status == "refunded" and order.notes == "refunded"
    stale = order.events.get(kind=SyncEvent.Kind.STALE_IGNORED)
    assert stale.outcome == "skipped" and "older" in stale.message


def test_a_burst_of_deliveries_is_drained_by_one_task(
    client, shopify_channel, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr("fenicia.tasks.async_task", lambda func, *args, **kw: enqueued.append((func, args)))
    base = load_fixture("shopify/webhook_orders_create.json")
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(10):
            body = json.dumps(dict(base, id=1000 + n, name=f"#{n}")).encode()
            deliver(client, shopify_channel, body, webhook_id=f"wh-{n}")
    assert enqueued == [("orders.tasks.drain_inbox", (shopify_channel.pk,))]
    assert WebhookEvent.objects.filter(status="received").count() == 10

    from orders.sync import inbox_drain

    assert inbox_drain(channel_id=shopify_channel.pk) == 10
    assert Order.objects.count() == 10


def test_the_receiver_does_no_parsing_and_no_channel_call(client, shopify_channel, mocked_responses, monkeypatch):
    """Fast acknowledgement: a body that would fail to parse is still answered 200 at once."""
    monkeypatch.setattr("fenicia.tasks.async_task", lambda *a, **k: None)
    response = deliver(client, shopify_channel, b"definitely not json")
    assert response.status_code == 200
    assert len(mocked_responses.calls) == 0
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.RECEIVED
