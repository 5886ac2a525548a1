"""Sync orchestration: one order, runs of at most 100 orders, polls, and their failures."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from channels.models import Channel, ChannelStatus, SyncRun
from fenicia.models import Notification
from orders.models import Order, SyncEvent, SyncState
from orders.services import orders_upsert
from orders.sync import channel_poll, order_sync, orders_resync_start, sync_run_start, sync_run_step
from tests.conftest import load_fixture
from tests.factories import normalized_order

pytestmark = pytest.mark.django_db
GRAPHQL_URL = "https://test-shop.myshopify.com/admin/api/2026-10/graphql.json"


def order_node(external_id: str, updated_at: str = "2026-11-20T13:20:00Z", **changes) -> dict:
    node = load_fixture("shopify/graphql_orders_page.json")["data"]["orders"]["nodes"][0]
    node.update(
        id=f"gid://shopify/Order/{external_id}",
        legacyResourceId=external_id,
        name=f"#{external_id}",
        updatedAt=updated_at,
        **changes,
    )
    return node


class FakeShopify:
    """A `responses` callback serving a store of order nodes the way Shopify's GraphQL does."""

    def __init__(self, nodes: list[dict]):
        self.nodes = sorted(nodes, key=lambda n: (n["updatedAt"], int(n["legacyResourceId"])))
        self.operations: list[str] = []

    def __call__(self, request):
        sent = json.loads(request.body)
        query, variables = sent["query"], sent["variables"]
        if "FeniciaListOrders" in query:
            self.operations.append("list")
            start = int(variables["after"] or 0)
            chunk = self.nodes[start : start + variables["first"]]
            more = start + len(chunk) < len(self.nodes)
            data = {"orders": {"pageInfo": {"hasNextPage": more, "endCursor": str(start + len(chunk))}, "nodes": chunk}}
        elif "FeniciaCountOrders" in query:
            self.operations.append("count")
            data = {"ordersCount": {"count": len(self.nodes), "precision": "EXACT"}}
        else:
            self.operations.append("nodes")
            by_gid = {n["id"]: n for n in self.nodes}
            data = {"nodes": [by_gid.get(gid) for gid in variables["ids"]]}
        return 200, {}, json.dumps({"data": data})


class TestSyncOneOrder:
    def test_sync_overwrites_our_copy_with_the_channels(self, shopify_channel, mocked_responses):
        orders_upsert(channel=shopify_channel, orders=[normalized_order("42", notes="ours")], source="webhook")
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [order_node("42", note="theirs")]}})
        order = Order.objects.get()
        assert order_sync(order_id=order.pk) == "synced"
        order.refresh_from_db()
        assert order.notes == "theirs" and order.sync_state == SyncState.OK
        assert order.events.first().message == "Updated from a manual sync"

    def test_404_at_the_channel_marks_the_order_not_found_at_source(self, shopify_channel, mocked_responses):
        orders_upsert(channel=shopify_channel, orders=[normalized_order("42")], source="webhook")
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [None]}})
        order = Order.objects.get()
        assert order_sync(order_id=order.pk) == "not_found"
        order.refresh_from_db()
        assert order.sync_state == SyncState.NOT_FOUND
        assert order.events.first().kind == SyncEvent.Kind.NOT_FOUND

    def test_401_asks_for_reconnection_and_notifies_once_without_retrying(self, shopify_channel, mocked_responses):
        orders_upsert(channel=shopify_channel, orders=[normalized_order("42")], source="webhook")
        mocked_responses.post(GRAPHQL_URL, status=401, json={"errors": "[API] Invalid API key or access token"})
        order = Order.objects.get()
        assert order_sync(order_id=order.pk) == "failed"
        assert order_sync(order_id=order.pk) == "failed"
        assert len(mocked_responses.calls) == 2  # one call per sync: no retry storm
        shopify_channel.refresh_from_db()
        assert shopify_channel.status == ChannelStatus.NEEDS_RECONNECT
        assert Notification.objects.filter(dedupe_key=f"channel-auth-{shopify_channel.pk}").get().count == 2
        failure = order.events.filter(outcome="failure").first()
        assert "refused our credentials" in failure.message

    def test_503_three_times_is_a_visible_failure(self, shopify_channel, mocked_responses):
        orders_upsert(channel=shopify_channel, orders=[normalized_order("42")], source="webhook")
        mocked_responses.post(GRAPHQL_URL, status=503, body="Service Unavailable")
        order = Order.objects.get()
        assert order_sync(order_id=order.pk) == "failed"
        assert len(mocked_responses.calls) == 3
        order.refresh_from_db()
        assert order.sync_state == SyncState.ERROR and "unavailable" in order.sync_error
        shopify_channel.refresh_from_db()
        assert shopify_channel.status == ChannelStatus.CONNECTED and shopify_channel.consecutive_failures == 1

    def test_an_expiring_token_is_refreshed_under_lock_before_the_call(self, shopify_channel, mocked_responses):
        shopify_channel.credentials = dict(
            shopify_channel.credentials,
            refresh_token="shprt_1",
            client_id="c",
            client_secret="s",
            expires_at=timezone.now().isoformat(),
        )
        shopify_channel.save()
        orders_upsert(channel=shopify_channel, orders=[normalized_order("42")], source="webhook")
        mocked_responses.post(
            "https://test-shop.myshopify.com/admin/oauth/access_token",
            json={"access_token": "shpat_fresh", "expires_in": 3600, "refresh_token": "shprt_2"},
        )
        mocked_responses.post(GRAPHQL_URL, json={"data": {"nodes": [order_node("42")]}})
        assert order_sync(order_id=Order.objects.get().pk) == "synced"
        assert mocked_responses.calls[1].request.headers["X-Shopify-Access-Token"] == "shpat_fresh"
        shopify_channel.refresh_from_db()
        assert shopify_channel.credentials["refresh_token"] == "shprt_2"


class TestRuns:
    def test_sync_orders_imports_in_steps_of_at_most_100(self, shopify_channel, mocked_responses, run_tasks):
        store = FakeShopify([order_node(str(1000 + n), f"2026-11-20T13:{n % 60:02d}:00Z") for n in range(250)])
        mocked_responses.add_callback("POST", GRAPHQL_URL, callback=store)
        with run_tasks():
            run = sync_run_start(
                channel=shopify_channel, kind=SyncRun.Kind.IMPORT, since=datetime(2026, 11, 1, tzinfo=UTC)
            )
        run.refresh_from_db()
        assert run.status == SyncRun.Status.SUCCEEDED
        assert (run.total, run.processed, run.created_count, run.steps) == (250, 250, 250, 3)
        assert Order.objects.count() == 250
        # Each step's upsert is tagged with its run; no step wrote more than 100 orders.
        per_step = SyncEvent.objects.filter(run=run, order__isnull=False).count()
        assert per_step == 250
        assert shopify_channel.events.filter(kind="run", outcome="success").exists()

    def test_bulk_resync_fetches_selected_orders_and_marks_missing_ones(
        self, shopify_channel, mocked_responses, run_tasks
    ):
        orders_upsert(channel=shopify_channel, orders=[normalized_order(str(n)) for n in range(1, 131)], source="poll")
        store = FakeShopify([order_node(str(n), "2026-11-21T00:00:00Z") for n in range(1, 130)])  # 130 is gone
        mocked_responses.add_callback("POST", GRAPHQL_URL, callback=store)
        with run_tasks():
            (run,) = orders_resync_start(order_ids=list(Order.objects.values_list("pk", flat=True)))
        run.refresh_from_db()
        assert run.status == SyncRun.Status.SUCCEEDED and run.steps == 2
        assert (run.updated_count, run.failed_count) == (129, 1)
        assert Order.objects.get(external_id="130").sync_state == SyncState.NOT_FOUND

    def test_a_step_already_claimed_is_not_run_twice(self, shopify_channel, mocked_responses):
        run = SyncRun.objects.create(
            channel=shopify_channel,
            kind=SyncRun.Kind.RESYNC,
            external_ids=["1"],
            status=SyncRun.Status.RUNNING,
            lease_until=timezone.now() + timedelta(minutes=5),
        )
        sync_run_step(run_id=run.pk)
        assert len(mocked_responses.calls) == 0

    def test_a_transient_failure_schedules_a_retry_of_the_step(self, shopify_channel, mocked_responses):
        from django_q.models import Schedule

        mocked_responses.post(GRAPHQL_URL, status=503)
        run = SyncRun.objects.create(channel=shopify_channel, kind=SyncRun.Kind.RESYNC, external_ids=["1"])
        sync_run_step(run_id=run.pk)
        run.refresh_from_db()
        assert run.status == SyncRun.Status.RUNNING and run.step_retries == 1
        assert Schedule.objects.filter(name=f"sync-run-{run.pk}-retry-1", func="orders.tasks.sync_run_step").exists()
        assert shopify_channel.events.filter(outcome="failure", run=run).exists()


class TestPolling:
    def test_the_poll_window_overlaps_the_last_one_and_the_cursor_advances_when_done(
        self, shopify_channel, mocked_responses, run_tasks
    ):
        store = FakeShopify([order_node("1", "2026-11-23T09:58:00Z")])
        mocked_responses.add_callback("POST", GRAPHQL_URL, callback=store)
        Channel.objects.filter(pk=shopify_channel.pk).update(sync_cursor=datetime(2026, 11, 23, 9, 45, tzinfo=UTC))
        with time_machine.travel(datetime(2026, 11, 23, 10, 0, tzinfo=UTC), tick=False), run_tasks():
            run = channel_poll(channel_id=shopify_channel.pk)
        run.refresh_from_db()
        assert run.window_start == datetime(2026, 11, 23, 9, 40, tzinfo=UTC)  # 5 min overlap
        assert run.window_end == datetime(2026, 11, 23, 9, 59, 30, tzinfo=UTC)  # 30 s behind now
        shopify_channel.refresh_from_db()
        assert shopify_channel.sync_cursor == run.window_end
        assert shopify_channel.last_successful_sync_at is not None
        sent = json.loads(mocked_responses.calls[-1].request.body)["variables"]["query"]
        assert sent == "updated_at:>='2026-11-23T09:40:00Z' AND updated_at:<='2026-11-23T09:59:30Z'"

    def test_a_poll_still_running_is_not_started_again(self, shopify_channel):
        SyncRun.objects.create(channel=shopify_channel, kind=SyncRun.Kind.POLL, status=SyncRun.Status.RUNNING)
        assert channel_poll(channel_id=shopify_channel.pk) is None

    def test_channels_needing_reconnection_are_not_polled(self, shopify_channel):
        Channel.objects.filter(pk=shopify_channel.pk).update(status=ChannelStatus.NEEDS_RECONNECT)
        assert channel_poll(channel_id=shopify_channel.pk) is None
        assert not SyncRun.objects.exists()

    def test_creating_a_channel_schedules_its_poll(self, shopify_channel):
        from django_q.models import Schedule

        schedule = Schedule.objects.get(name=f"poll-channel-{shopify_channel.pk}")
        assert (schedule.func, schedule.minutes, schedule.args) == (
            "orders.tasks.poll_channel",
            15,
            f"({shopify_channel.pk},)",
        )
