"""Operators' commands."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from channels.models import SyncRun
from orders.models import Order
from tests.orders.test_sync import GRAPHQL_URL, FakeShopify, order_node

pytestmark = pytest.mark.django_db


def test_sync_orders_imports_a_channel_in_steps(shopify_channel, mocked_responses):
    store = FakeShopify([order_node(str(n), f"2026-11-20T13:{n % 60:02d}:00Z") for n in range(1, 231)])
    mocked_responses.add_callback("POST", GRAPHQL_URL, callback=store)
    out = StringIO()
    call_command("sync_orders", channel=shopify_channel.pk, since="2026-11-01", no_progress=True, stdout=out)
    assert Order.objects.count() == 230
    run = SyncRun.objects.get()
    assert (run.status, run.steps, run.processed) == ("succeeded", 3, 230)
    assert "230 orders read, 230 new" in out.getvalue()
    sent = mocked_responses.calls[1].request.body.decode()
    assert "updated_at:>='2026-11-01T00:00:00Z'" in sent


def test_sync_orders_with_one_order_imports_it(shopify_channel, mocked_responses):
    mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [order_node("77")]}})
    call_command("sync_orders", channel=shopify_channel.pk, order="77", stdout=StringIO())
    assert Order.objects.get().external_id == "77"


def test_sync_orders_reports_bad_input_clearly(shopify_channel):
    with pytest.raises(CommandError, match="No channel with id"):
        call_command("sync_orders", channel=999)
    with pytest.raises(CommandError, match="ISO date"):
        call_command("sync_orders", channel=shopify_channel.pk, since="yesterday")


def test_sync_orders_fails_loudly_when_the_channel_refuses_us(shopify_channel, mocked_responses):
    mocked_responses.post(GRAPHQL_URL, status=401, json={"errors": "[API] Invalid API key or access token"})
    with pytest.raises(CommandError, match="failed"):
        call_command("sync_orders", channel=shopify_channel.pk, no_progress=True, stdout=StringIO())
