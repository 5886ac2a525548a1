"""Webhook pushes: verified (token or HMAC, constant time), stored before they are applied,
forged ones refused and not stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from inventory import services
from inventory.models import InventoryDelivery, InventorySyncRun, RunStatus, StockLevel

from .factories import make_products, make_source

pytestmark = pytest.mark.django_db

SECRET = "whsec_inventory_test"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def hmac_source():
    return make_source(
        kind="webhook",
        webhook_auth="hmac",
        webhook_header="X-Fenicia-Signature",
        webhook_secret=SECRET,
        data_format="json",
        json_list_path="stock",
    )


def post(client, source, body: bytes, content_type="application/json", **headers):
    return client.post(source.webhook_path, data=body, content_type=content_type, **headers)


def test_a_signed_json_push_is_stored_then_applied(client, hmac_source, run_tasks):
    make_products("A", "B")
    body = json.dumps({"stock": [{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 1}]}).encode()
    with run_tasks():
        response = post(client, hmac_source, body, HTTP_X_FENICIA_SIGNATURE=signed(body))
    assert response.status_code == 202
    delivery = InventoryDelivery.objects.get()
    assert bytes(delivery.body) == body and delivery.status == InventoryDelivery.Status.APPLIED
    assert response.json() == {"delivery": delivery.pk, "run": InventorySyncRun.objects.get().pk}
    assert dict(StockLevel.objects.values_list("product__sku", "quantity")) == {"A": 4, "B": 1}


def test_the_body_is_stored_before_it_is_applied(client, hmac_source, django_capture_on_commit_callbacks):
    body = b'{"stock": [{"sku": "A", "quantity": 4}]}'
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, hmac_source, body, HTTP_X_FENICIA_SIGNATURE=signed(body))
    assert response.status_code == 202
    assert InventoryDelivery.objects.get().status == InventoryDelivery.Status.RECEIVED
    assert InventorySyncRun.objects.get().status == RunStatus.PENDING
    assert len(callbacks) == 1  # the run's task, enqueued after the commit


def test_base64_signatures_are_accepted_too(client, hmac_source, run_tasks):
    body = b'{"stock": []}'
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    with run_tasks():
        assert post(client, hmac_source, body, HTTP_X_FENICIA_SIGNATURE=digest).status_code == 202


@pytest.mark.parametrize(
    "signature",
    ["", "sha256=" + "0" * 64, signed(b"another body"), signed(b'{"stock": []}', "wrong-secret")],
)
def test_a_forged_push_is_refused_and_not_stored(client, hmac_source, signature):
    body = b'{"stock": []}'
    headers = {"HTTP_X_FENICIA_SIGNATURE": signature} if signature else {}
    response = post(client, hmac_source, body, **headers)
    assert response.status_code == 401
    assert not InventoryDelivery.objects.exists()
    assert not InventorySyncRun.objects.exists()


def test_token_sources_compare_the_header_and_take_csv(client, run_tasks):
    make_products("A")
    source = make_source(kind="webhook", webhook_auth="token", webhook_header="X-Stock-Token", webhook_secret="tok")
    body = b"sku,quantity\nA,3\n"
    assert post(client, source, body, "text/csv", HTTP_X_STOCK_TOKEN="nope").status_code == 401
    assert not InventoryDelivery.objects.exists()
    with run_tasks():
        assert post(client, source, body, "text/csv", HTTP_X_STOCK_TOKEN="tok").status_code == 202
    assert StockLevel.objects.get().quantity == 3


def test_pushes_to_unknown_or_pull_sources_store_nothing(client):
    rest = make_source()
    body = b"{}"
    assert client.post("/inventory/webhooks/999999/", data=body, content_type="application/json").status_code == 401
    response = client.post(rest.webhook_path, data=body, content_type="application/json")
    assert response.status_code == 401
    assert not InventoryDelivery.objects.exists()


def test_a_source_without_a_secret_accepts_nothing(hmac_source):
    hmac_source.webhook_secret = ""
    assert services.webhook_verify(hmac_source, {"X-Fenicia-Signature": signed(b"x", "")}, b"x") is False
