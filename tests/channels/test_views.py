from datetime import date

import pytest
from django.test import Client
from django.urls import reverse
from django_q.models import Schedule

from channels.models import Channel, ChannelStatus, SyncRun, WebhookEvent
from channels.services import channel_create
from orders.models import SyncEvent
from orders.services import channel_event
from tests.conftest import load_fixture

GRAPHQL_URL = "https://test-shop.myshopify.com/admin/api/2026-10/graphql.json"
HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN = "shpat_test_token"
SECRET = "shpss_webhook_secret"


@pytest.fixture
def client_in(client, staff_user):
    client.force_login(staff_user)
    return client


def _failed_delivery(channel, **overrides) -> WebhookEvent:
    values = {
        "channel": channel,
        "delivery_id": "d-1",
        "topic": "orders/create",
        "body": b"{not json",
        "status": WebhookEvent.Status.FAILED,
        "error": "Body is not JSON",
        "attempts": 1,
    }
    values.update(overrides)
    return WebhookEvent.objects.create(**values)


# -- access ---------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,name,args",
    [
        ("get", "channels:list", []),
        ("get", "channels:detail", [1]),
        ("get", "channels:create", []),
        ("post", "channels:sync", [1]),
        ("post", "channels:pause", [1]),
        ("post", "channels:resume", [1]),
        ("get", "channels:reconnect", [1]),
        ("get", "channels:run", [1, 1]),
        ("post", "channels:webhook-replay", [1, 1]),
    ],
)
def test_it_requires_login(client, method, name, args):
    url = reverse(name, args=args)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_webhook_receiver_needs_no_login(client, shopify_channel):
    # Unsigned: refused by the signature check, not by a login redirect.
    response = client.post(shopify_channel.webhook_path, data=b"{}", content_type="application/json")
    assert response.status_code == 401


def test_it_404s_for_an_unknown_channel(client_in):
    assert client_in.get(reverse("channels:detail", args=[999])).status_code == 404
    assert client_in.post(reverse("channels:sync", args=[999])).status_code == 404


def test_forms_are_csrf_protected(staff_user, shopify_channel):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    assert strict.post(reverse("channels:pause", args=[shopify_channel.pk])).status_code == 403
    assert strict.post(reverse("channels:sync", args=[shopify_channel.pk])).status_code == 403
    shopify_channel.refresh_from_db()
    assert shopify_channel.status == ChannelStatus.CONNECTED


# -- list and detail ------------------------------------------------------------------------------
def test_list_shows_status_capabilities_and_webhook_url_but_never_secrets(client_in, shopify_channel):
    Channel.objects.filter(pk=shopify_channel.pk).update(last_error="Shopify throttled the query")
    body = client_in.get(reverse("channels:list")).content.decode()
    assert "Test Shop" in body and "Shopify" in body
    assert 'class="pill pill-connected"' in body
    assert "Shopify throttled the query" in body
    assert shopify_channel.webhook_url in body
    assert '<span class="cap yes"' in body and '<span class="cap no"' in body  # Webhooks vs Push stock
    assert TOKEN not in body and SECRET not in body


def test_detail_shows_the_channel_without_its_secrets(client_in, shopify_channel):
    _failed_delivery(shopify_channel)
    channel_event(
        channel=shopify_channel,
        kind=SyncEvent.Kind.POLL,
        outcome=SyncEvent.Outcome.FAILURE,
        source="poll",
        message="Scheduled poll failed: boom",
        details={"run_id": 1},
    )
    response = client_in.get(shopify_channel.get_absolute_url())
    body = response.content.decode()
    assert response.status_code == 200
    assert TOKEN not in body and SECRET not in body
    assert "shpa…en" in body  # fenicia.crypto.mask
    assert shopify_channel.webhook_url in body
    assert "every 15 min" in body
    assert "orders/create" in body and "Body is not JSON" in body and "Replay" in body
    assert "Scheduled poll failed: boom" in body
    assert "Sync orders" in body and 'name="since"' in body


def test_detail_of_a_needs_reconnect_channel_offers_reconnect(client_in, shopify_channel):
    Channel.objects.filter(pk=shopify_channel.pk).update(
        status=ChannelStatus.NEEDS_RECONNECT, last_error="Shopify denied access"
    )
    body = client_in.get(shopify_channel.get_absolute_url()).content.decode()
    assert "This channel needs reconnecting" in body and "Shopify denied access" in body
    assert reverse("channels:reconnect", args=[shopify_channel.pk]) in body


# -- Sync orders ----------------------------------------------------------------------------------
def test_sync_orders_starts_an_import_run(client_in, shopify_channel, staff_user):
    response = client_in.post(reverse("channels:sync", args=[shopify_channel.pk]), {"since": "2026-11-01"})
    assert response.status_code == 302 and response["Location"] == shopify_channel.get_absolute_url()
    run = SyncRun.objects.get()
    assert run.kind == SyncRun.Kind.IMPORT and run.requested_by == staff_user
    assert run.window_start.date() == date(2026, 11, 1)
    page = client_in.get(response["Location"]).content.decode()
    assert "Sync started" in page
    assert f'hx-get="{reverse("channels:run", args=[shopify_channel.pk, run.pk])}"' in page


def test_sync_orders_without_a_date_covers_the_last_30_days(client_in, shopify_channel):
    client_in.post(reverse("channels:sync", args=[shopify_channel.pk]))
    run = SyncRun.objects.get()
    assert run.window_start is not None and run.window_end is None


def test_sync_orders_refuses_a_future_date(client_in, shopify_channel):
    response = client_in.post(reverse("channels:sync", args=[shopify_channel.pk]), {"since": "2999-01-01"}, follow=True)
    assert "not in the future" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_sync_orders_with_htmx_returns_a_polling_run_partial(client_in, shopify_channel):
    response = client_in.post(reverse("channels:sync", args=[shopify_channel.pk]), **HTMX)
    body = response.content.decode()
    run = SyncRun.objects.get()
    assert '<div id="active-run"' in body and 'hx-trigger="every 2s"' in body
    assert reverse("channels:run", args=[shopify_channel.pk, run.pk]) in body
    assert 'id="run-history" hx-swap-oob="true"' in body
    assert "channel-connection" not in body  # still running: only the run's own parts change
    assert "<html" not in body


def test_sync_orders_runs_to_completion(client_in, shopify_channel, run_tasks, mocked_responses):
    page = load_fixture("shopify/graphql_orders_page.json")
    page["data"]["orders"]["pageInfo"] = {"hasNextPage": False, "endCursor": None}
    mocked_responses.post(GRAPHQL_URL, json={"data": {"ordersCount": {"count": 2, "precision": "EXACT"}}})
    mocked_responses.post(GRAPHQL_URL, json=page)
    with run_tasks():
        client_in.post(reverse("channels:sync", args=[shopify_channel.pk]), **HTMX)
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.SUCCEEDED and run.created_count == 2
    partial = client_in.get(reverse("channels:run", args=[shopify_channel.pk, run.pk]), **HTMX).content.decode()
    assert "Succeeded" in partial and "2 new" in partial
    assert "hx-trigger" not in partial  # finished: polling stops
    # ...and the parts of the page the run changed catch up, out of band.
    assert 'id="channel-connection" hx-swap-oob="true"' in partial and "never" not in partial
    assert 'id="channel-events" hx-swap-oob="true"' in partial and "Sync orders finished" in partial


def test_a_paused_channel_does_not_sync(client_in, shopify_channel):
    Channel.objects.filter(pk=shopify_channel.pk).update(status=ChannelStatus.DISABLED)
    body = client_in.post(reverse("channels:sync", args=[shopify_channel.pk]), **HTMX).content.decode()
    assert "The channel is paused" in body
    assert not SyncRun.objects.exists()


def test_run_partial_of_another_channel_is_404(client_in, shopify_channel):
    other = channel_create(kind="shopify", name="Other", credentials={"shop": "o.myshopify.com"})
    run = SyncRun.objects.create(channel=other, kind=SyncRun.Kind.IMPORT)
    assert client_in.get(reverse("channels:run", args=[shopify_channel.pk, run.pk])).status_code == 404


# -- pause, resume, replay ------------------------------------------------------------------------
def test_pause_and_resume(client_in, shopify_channel):
    schedule = Schedule.objects.filter(name=f"poll-channel-{shopify_channel.pk}")
    assert schedule.exists()
    response = client_in.post(reverse("channels:pause", args=[shopify_channel.pk]), follow=True)
    shopify_channel.refresh_from_db()
    assert shopify_channel.status == ChannelStatus.DISABLED and not schedule.exists()
    body = response.content.decode()
    assert "paused" in body and "Resume" in body
    client_in.post(reverse("channels:resume", args=[shopify_channel.pk]))
    shopify_channel.refresh_from_db()
    assert shopify_channel.status == ChannelStatus.CONNECTED and schedule.exists()


def test_replay_puts_a_failed_delivery_back_in_the_queue(client_in, shopify_channel):
    delivery = _failed_delivery(shopify_channel)
    client_in.post(reverse("channels:webhook-replay", args=[shopify_channel.pk, delivery.pk]))
    delivery.refresh_from_db()
    assert delivery.status == WebhookEvent.Status.RECEIVED and delivery.error == ""


def test_replay_refuses_a_processed_delivery(client_in, shopify_channel):
    delivery = _failed_delivery(shopify_channel, status=WebhookEvent.Status.PROCESSED, error="")
    response = client_in.post(reverse("channels:webhook-replay", args=[shopify_channel.pk, delivery.pk]), follow=True)
    assert "Only failed or ignored deliveries" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == WebhookEvent.Status.PROCESSED


# -- add and reconnect ----------------------------------------------------------------------------
def test_add_channel(client_in):
    page = client_in.get(reverse("channels:create")).content.decode()
    assert '<option value="shopify"' in page and '<option value="amazon"' not in page
    response = client_in.post(
        reverse("channels:create"),
        {
            "kind": "shopify",
            "name": "Main store",
            "shop": "https://Main-Store.myshopify.com/",
            "access_token": "shpat_new_secret",
            "webhook_secret": "whsec_new",
            "poll_interval_minutes": 10,
        },
    )
    channel = Channel.objects.get(name="Main store")
    assert response["Location"] == channel.get_absolute_url()
    assert channel.credentials == {"shop": "main-store.myshopify.com", "access_token": "shpat_new_secret"}
    assert channel.webhook_secret == "whsec_new" and channel.poll_interval_minutes == 10
    assert Schedule.objects.filter(name=f"poll-channel-{channel.pk}").exists()
    assert "shpat_new_secret" not in client_in.get(response["Location"]).content.decode()


def test_add_channel_rejects_unsupported_kinds_and_never_echoes_the_token(client_in):
    response = client_in.post(
        reverse("channels:create"),
        {
            "kind": "amazon",
            "name": "",
            "shop": "x",
            "access_token": "shpat_do_not_echo",
            "poll_interval_minutes": 0,
        },
    )
    body = response.content.decode()
    assert response.status_code == 200 and not Channel.objects.exists()
    assert "Select a valid choice" in body
    assert "shpat_do_not_echo" not in body


def test_reconnect_updates_credentials_and_reconnects(client_in, shopify_channel):
    Channel.objects.filter(pk=shopify_channel.pk).update(status=ChannelStatus.NEEDS_RECONNECT)
    page = client_in.get(reverse("channels:reconnect", args=[shopify_channel.pk])).content.decode()
    assert TOKEN not in page and SECRET not in page
    response = client_in.post(
        reverse("channels:reconnect", args=[shopify_channel.pk]), {"access_token": "shpat_rotated"}
    )
    assert response["Location"] == shopify_channel.get_absolute_url()
    shopify_channel.refresh_from_db()
    assert shopify_channel.status == ChannelStatus.CONNECTED
    assert shopify_channel.credentials["access_token"] == "shpat_rotated"
    assert shopify_channel.credentials["shop"] == "test-shop.myshopify.com"  # kept
    assert shopify_channel.credentials["api_version"] == "2026-10"
    assert shopify_channel.webhook_secret == SECRET  # kept


def test_reconnect_keeps_a_paused_channel_paused(client_in, shopify_channel):
    Channel.objects.filter(pk=shopify_channel.pk).update(status=ChannelStatus.DISABLED)
    client_in.post(
        reverse("channels:reconnect", args=[shopify_channel.pk]),
        {"access_token": "shpat_rotated", "webhook_secret": "new-secret"},
    )
    shopify_channel.refresh_from_db()
    assert shopify_channel.status == ChannelStatus.DISABLED
    assert shopify_channel.webhook_secret == "new-secret"


def test_reconnect_requires_a_token(client_in, shopify_channel):
    response = client_in.post(reverse("channels:reconnect", args=[shopify_channel.pk]), {"access_token": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
