"""The inventory REST API: sources (list, create, detail, sync now), runs, products, stock levels."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from inventory.models import InventorySource, InventorySyncRun, RunStatus
from tests.api.factories import token_client

from .factories import make_products, make_source
from .servers import stock_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user):
    return token_client(staff_user)


def test_it_answers_401_without_credentials():
    client = APIClient()
    for url in ("/api/inventory/sources/", "/api/inventory/products/", "/api/inventory/stock-levels/"):
        assert client.get(url).status_code == 401, url


def test_create_list_and_read_a_source_without_leaking_secrets(api):
    response = api.post(
        "/api/inventory/sources/",
        {
            "name": "WMS",
            "kind": "sftp",
            "host": "sftp.example.com",
            "username": "stock",
            "password": "hunter2-very-secret",
            "remote_path": "/out/stock_*.csv",
            "frequency_minutes": 60,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "sftp" and body["has_password"] is True and body["status"] == "pending"
    assert "hunter2" not in response.content.decode()
    source = InventorySource.objects.get()
    assert source.password == "hunter2-very-secret"
    assert response["Location"].endswith(f"/api/inventory/sources/{source.pk}/")
    listed = api.get("/api/inventory/sources/").json()
    assert [s["name"] for s in listed["results"]] == ["WMS"]
    assert api.get(f"/api/inventory/sources/{source.pk}/").json()["remote_path"] == "/out/stock_*.csv"
    assert api.get("/api/inventory/sources/999/").status_code == 404


def test_create_validates_by_kind(api):
    response = api.post("/api/inventory/sources/", {"name": "Hook", "kind": "webhook"}, format="json")
    assert response.status_code == 400
    assert "webhook_secret" in response.json()


def test_sync_now_answers_202_with_the_run_to_poll(api, http_server, run_tasks):
    make_products("A")
    http_server.csv("/s.csv", stock_csv([("A", 2), ("Q", 1)]))
    source = make_source(url=http_server.url + "/s.csv")
    with run_tasks():
        response = api.post(f"/api/inventory/sources/{source.pk}/sync/")
    assert response.status_code == 202
    run_id = response.json()["id"]
    run = api.get(f"/api/inventory/runs/{run_id}/").json()
    assert run["status"] == RunStatus.COMPLETED and run["is_active"] is False
    assert (run["records_processed"], run["products_updated"], run["unmapped_count"]) == (2, 1, 1)
    assert run["unmapped_skus"] == [{"sku": "Q", "line": 3, "quantity": 1}]
    runs = api.get(f"/api/inventory/sources/{source.pk}/runs/").json()["results"]
    assert [r["id"] for r in runs] == [run_id]
    assert InventorySyncRun.objects.get().trigger == "api"


def test_sync_now_on_a_webhook_source_is_a_conflict(api):
    source = make_source(kind="webhook", webhook_secret="s")
    assert api.post(f"/api/inventory/sources/{source.pk}/sync/").status_code == 409


def test_products_and_stock_levels(api, http_server, run_tasks):
    make_products("A", "B")
    http_server.csv("/s.csv", stock_csv([("A", 2), ("B", 5)]))
    source = make_source(url=http_server.url + "/s.csv")
    with run_tasks():
        api.post(f"/api/inventory/sources/{source.pk}/sync/")
    products = api.get("/api/inventory/products/", {"q": "A"}).json()["results"]
    assert [(p["sku"], p["available"]) for p in products] == [("A", 2)]
    assert products[0]["stock_levels"][0]["source"] == source.pk
    levels = api.get("/api/inventory/stock-levels/", {"source": source.pk}).json()["results"]
    assert [(lv["sku"], lv["quantity"]) for lv in levels] == [("A", 2), ("B", 5)]
    created = api.post("/api/inventory/products/", {"sku": "C", "name": "Cee"}, format="json")
    assert created.status_code == 201 and created.json()["available"] == 0
    assert api.post("/api/inventory/products/", {"sku": "C"}, format="json").status_code == 400
    assert api.get(f"/api/inventory/products/{created.json()['id']}/").json()["sku"] == "C"


def test_the_schema_documents_the_inventory_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    assert "/api/inventory/sources/{source_id}/sync/" in schema["paths"]
