from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from channels.models import Channel, ChannelStatus, SyncRun
from channels.services import channel_set_status
from orders.models import Order

from .factories import token_client

pytestmark = pytest.mark.django_db

NEW_CHANNEL = {
    "kind": "shopify",
    "name": "Second Shop",
    "credentials": {"shop": "second-shop.myshopify.com", "access_token": "shpat_very_secret_token_123"},
    "webhook_secret": "shpss_super_secret_webhook_key",
}


@pytest.fixture
def api(staff_user):
    return token_client(staff_user)


def test_it_answers_401_without_credentials(shopify_channel):
    client = APIClient()
    for url in ("/api/channels/", f"/api/channels/{shopify_channel.pk}/", "/api/orders/", "/api/runs/1/"):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response["WWW-Authenticate"].startswith("Token")
    assert client.post("/api/channels/", NEW_CHANNEL, format="json").status_code == 401


def test_it_refuses_a_wrong_token(shopify_channel):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/channels/").status_code == 401


def test_it_lists_channels_with_a_token(api, shopify_channel):
    response = api.get("/api/channels/")
    assert response.status_code == 200
    assert response.data["count"] == 1
    row = response.data["results"][0]
    assert row["id"] == shopify_channel.pk
    assert row["name"] == "Test Shop"
    assert row["status"] == "connected"
    assert row["capabilities"] == sorted(row["capabilities"])
    assert {"fetch_one", "polling", "webhooks", "ship", "add_tracking", "cancel"} <= set(row["capabilities"])
    assert row["has_webhook_secret"] is True
    assert row["last_successful_sync_at"] is None
    assert row["last_error"] == ""


def test_session_authentication_works_too(client, staff_user, shopify_channel):
    client.force_login(staff_user)
    assert client.get("/api/channels/").status_code == 200


def test_create_returns_id_and_webhook_url(api):
    response = api.post("/api/channels/", NEW_CHANNEL, format="json")
    assert response.status_code == 201, response.data
    channel = Channel.objects.get(pk=response.data["id"])
    assert response.data["webhook_url"] == channel.webhook_url
    assert response.data["webhook_url"].endswith(f"/webhooks/shopify/{channel.pk}/")
    assert response["Location"].endswith(f"/api/channels/{channel.pk}/")
    assert channel.credentials == NEW_CHANNEL["credentials"]
    assert channel.webhook_secret == NEW_CHANNEL["webhook_secret"]
    assert channel.poll_interval_minutes == 15


def test_create_stores_secrets_encrypted(api):
    response = api.post("/api/channels/", NEW_CHANNEL, format="json")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT credentials, webhook_secret FROM {Channel._meta.db_table} WHERE id = %s", [response.data["id"]]
        )
        credentials_column, secret_column = cursor.fetchone()
    assert "shpat_very_secret_token_123" not in credentials_column
    assert "second-shop" not in credentials_column
    assert "shpss_super_secret_webhook_key" not in secret_column


def test_it_never_echoes_secrets(api):
    created = api.post("/api/channels/", NEW_CHANNEL, format="json")
    fetched = api.get(f"/api/channels/{created.data['id']}/")
    listed = api.get("/api/channels/")
    for response in (created, fetched, listed):
        text = response.content.decode()
        assert "shpat_very_secret_token_123" not in text
        assert "shpss_super_secret_webhook_key" not in text
    for data in (created.data, fetched.data, listed.data["results"][0]):
        assert "webhook_secret" not in data
        assert "credentials" not in data
    assert fetched.data["has_webhook_secret"] is True
    assert fetched.data["credentials_masked"]["access_token"] == "shpa…23"


def test_create_accepts_the_optional_fields(api):
    payload = {**NEW_CHANNEL, "api_base_url": "http://127.0.0.1:8765", "poll_interval_minutes": 5}
    response = api.post("/api/channels/", payload, format="json")
    assert response.status_code == 201, response.data
    channel = Channel.objects.get(pk=response.data["id"])
    assert (channel.api_base_url, channel.poll_interval_minutes) == ("http://127.0.0.1:8765", 5)
    assert response.data["api_base_url"] == "http://127.0.0.1:8765"


def test_create_refuses_a_kind_without_an_adapter(api):
    response = api.post("/api/channels/", {**NEW_CHANNEL, "kind": "walmart"}, format="json")
    assert response.status_code == 400
    assert set(response.data) == {"kind"}
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"credentials": "shpat_as_a_string"}, "credentials"),
        ({"credentials": {}}, "credentials"),
        ({"webhook_secret": ""}, "webhook_secret"),  # Shopify signs its webhooks: the secret is needed
        ({"api_base_url": "not a url"}, "api_base_url"),
        ({"poll_interval_minutes": 0}, "poll_interval_minutes"),
    ],
)
def test_create_validation_errors_name_the_field(api, change, field):
    response = api.post("/api/channels/", {**NEW_CHANNEL, **change}, format="json")
    assert response.status_code == 400
    assert field in response.data, response.data
    assert not Channel.objects.exists()


def test_create_requires_kind_name_and_credentials(api):
    response = api.post("/api/channels/", {}, format="json")
    assert response.status_code == 400
    assert {"kind", "name", "credentials"} <= set(response.data)


def test_unknown_channel_is_404(api):
    assert api.get("/api/channels/999999/").status_code == 404
    assert api.post("/api/channels/999999/sync/", {}, format="json").status_code == 404
    assert api.get("/api/channels/999999/runs/").status_code == 404
    assert api.get("/api/runs/999999/").status_code == 404


def test_sync_imports_orders_and_reports_progress(api, shopify_channel, fake_shopify, run_tasks):
    with run_tasks():
        response = api.post(
            f"/api/channels/{shopify_channel.pk}/sync/", {"since": "2026-11-01T00:00:00Z"}, format="json"
        )
    assert response.status_code == 202, response.data
    assert response.data["status"] == "queued"
    assert response.data["kind"] == "import"
    assert response.data["window_start"].startswith("2026-11-01T00:00:00")
    run_id = response.data["id"]

    progress = api.get(f"/api/runs/{run_id}/")
    assert progress.status_code == 200
    assert progress.data["status"] == "succeeded"
    assert progress.data["is_active"] is False
    assert progress.data["progress_percent"] == 100
    assert (progress.data["processed"], progress.data["created_count"], progress.data["total"]) == (2, 2, 2)
    assert SyncRun.objects.get(pk=run_id).requested_by.username == "staff"
    assert Order.objects.filter(channel=shopify_channel).count() == 2
    assert fake_shopify.operations == ["count", "list"]

    runs = api.get(f"/api/channels/{shopify_channel.pk}/runs/")
    assert [r["id"] for r in runs.data["results"]] == [run_id]
    channel = api.get(f"/api/channels/{shopify_channel.pk}/")
    assert channel.data["last_successful_sync_at"] is not None


def test_sync_without_since_imports_the_last_30_days(api, shopify_channel, fake_shopify, run_tasks):
    with run_tasks():
        response = api.post(f"/api/channels/{shopify_channel.pk}/sync/", {}, format="json")
    assert response.status_code == 202
    assert response.data["window_start"] is not None


@pytest.mark.parametrize("since", ["yesterday", "2999-01-01T00:00:00Z"])
def test_sync_validates_since(api, shopify_channel, since):
    response = api.post(f"/api/channels/{shopify_channel.pk}/sync/", {"since": since}, format="json")
    assert response.status_code == 400
    assert "since" in response.data
    assert not SyncRun.objects.exists()


def test_sync_of_a_paused_channel_is_a_conflict(api, shopify_channel):
    channel_set_status(channel=shopify_channel, status=ChannelStatus.DISABLED)
    response = api.post(f"/api/channels/{shopify_channel.pk}/sync/", {}, format="json")
    assert response.status_code == 409
    assert not SyncRun.objects.exists()
