"""The inventory pages: login, Sync now with its htmx partial, history, problems, mapping
editor, products, channel stock settings."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from django_q.models import Schedule

from channels.services import channel_create
from inventory.models import (
    ChannelStockSettings,
    InventorySource,
    InventorySyncRun,
    Product,
    RunStatus,
    SkuMapping,
    StockPush,
)

from .factories import make_products, make_source, sell_on
from .servers import stock_csv

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_in(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("get", "inventory:source-list", []),
        ("get", "inventory:source-create", []),
        ("get", "inventory:source-detail", [1]),
        ("get", "inventory:source-edit", [1]),
        ("post", "inventory:source-sync", [1]),
        ("get", "inventory:source-run", [1, 1]),
        ("post", "inventory:source-delete", [1]),
        ("post", "inventory:unmapped-create", [1]),
        ("post", "inventory:mapping-add", [1]),
        ("post", "inventory:mapping-import", [1]),
        ("get", "inventory:product-list", []),
        ("get", "inventory:product-detail", [1]),
        ("post", "inventory:product-create", []),
        ("get", "inventory:channels", []),
    ],
)
def test_it_requires_login(client, method, name, args):
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_source_list_shows_status_and_last_sync(client_in, http_server, run_tasks):
    make_products("A")
    http_server.csv("/s.csv", stock_csv([("A", 1)]))
    source = make_source(name="Main ERP", url=http_server.url + "/s.csv")
    with run_tasks():
        client_in.post(reverse("inventory:source-sync", args=[source.pk]))
    page = client_in.get(reverse("inventory:source-list")).content.decode()
    assert "Main ERP" in page and "pill-succeeded" in page and "Completed" in page
    assert "never" not in page


def test_add_a_rest_source_through_the_form(client_in):
    response = client_in.post(
        reverse("inventory:source-create"),
        {
            "name": "ERP",
            "kind": "rest_api",
            "frequency_minutes": "15",
            "mapping_mode": "sku",
            "data_format": "json",
            "sku_field": "code",
            "quantity_field": "qty",
            "json_list_path": "data",
            "delimiter": ",",
            "encoding": "utf-8",
            "url": "https://erp.example.com/stock",
            "auth_header": "Authorization",
            "auth_token": "Bearer secret-erp-token",
            "pagination": "next_link",
            "next_link_path": "next",
            "page_param": "page",
            "webhook_auth": "hmac",
            "webhook_header": "X-Fenicia-Signature",
        },
    )
    source = InventorySource.objects.get()
    assert response.status_code == 302 and response["Location"] == source.get_absolute_url()
    assert source.auth_token == "Bearer secret-erp-token"
    assert Schedule.objects.get(name=f"inventory-source-{source.pk}").minutes == 15
    page = client_in.get(source.get_absolute_url()).content.decode()
    assert "secret-erp-token" not in page  # masked
    edit = client_in.get(reverse("inventory:source-edit", args=[source.pk])).content.decode()
    assert "secret-erp-token" not in edit


def test_the_form_requires_what_the_kind_needs(client_in):
    response = client_in.post(
        reverse("inventory:source-create"),
        {"name": "Files", "kind": "sftp", "frequency_minutes": "0", "mapping_mode": "sku", "data_format": "csv"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "host" in errors and "remote_path" in errors
    assert not InventorySource.objects.exists()


def test_editing_keeps_secrets_left_empty(client_in):
    source = make_source(kind="webhook", webhook_secret="keep-me", webhook_header="X-Sig")
    form = client_in.get(reverse("inventory:source-edit", args=[source.pk])).context["form"]
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data.update(name="Renamed", webhook_secret="")
    response = client_in.post(reverse("inventory:source-edit", args=[source.pk]), data)
    assert response.status_code == 302
    source.refresh_from_db()
    assert (source.name, source.webhook_secret) == ("Renamed", "keep-me")


def test_sync_now_answers_htmx_with_the_live_run_then_the_result(client_in, http_server, run_tasks):
    make_products("A", "B")
    http_server.csv("/s.csv", stock_csv([("A", 4), ("B", "x"), ("C", 1)]))
    source = make_source(url=http_server.url + "/s.csv")
    # The task has not run yet: the partial polls every 2 s.
    response = client_in.post(reverse("inventory:source-sync", args=[source.pk]), **HTMX)
    run = InventorySyncRun.objects.get()
    html = response.content.decode()
    assert 'id="active-run"' in html and 'hx-trigger="every 2s"' in html
    assert reverse("inventory:source-run", args=[source.pk, run.pk]) in html
    assert 'data-status="pending"' in html
    # The worker runs it; the next poll shows the result and stops polling.
    with run_tasks():
        from inventory.services import run_execute

        run_execute(run_id=run.pk)
    html = client_in.get(reverse("inventory:source-run", args=[source.pk, run.pk]), **HTMX).content.decode()
    assert 'data-status="completed"' in html and "every 2s" not in html
    assert "1 products updated" in html and "1 unmapped" in html and "1 invalid" in html
    assert 'id="run-history" hx-swap-oob="true"' in html
    assert 'id="source-status"' in html and 'id="problems"' in html  # out-of-band: status, problems


def test_sync_now_without_javascript_redirects(client_in, http_server, run_tasks):
    http_server.csv("/s.csv", stock_csv([]))
    source = make_source(url=http_server.url + "/s.csv")
    with run_tasks():
        response = client_in.post(reverse("inventory:source-sync", args=[source.pk]))
    assert response.status_code == 302 and response["Location"] == source.get_absolute_url()
    assert InventorySyncRun.objects.get().status == RunStatus.COMPLETED


def test_detail_lists_unmapped_skus_and_invalid_rows_and_creates_a_product_in_one_click(
    client_in, http_server, run_tasks
):
    make_products("A")
    http_server.csv("/s.csv", stock_csv([("A", 2), ("NEW-9", 5), ("A2", "lots")]))
    source = make_source(url=http_server.url + "/s.csv")
    with run_tasks():
        client_in.post(reverse("inventory:source-sync", args=[source.pk]))
    page = client_in.get(source.get_absolute_url()).content.decode()
    assert "NEW-9" in page and "Create product" in page
    assert "quantity &#x27;lots&#x27; is not a whole number" in page
    response = client_in.post(reverse("inventory:unmapped-create", args=[source.pk]), {"sku": "NEW-9"})
    assert response.status_code == 302
    assert Product.objects.get(sku="NEW-9").available == 5
    page = client_in.get(source.get_absolute_url()).content.decode()
    assert "product exists" in page


def test_mapping_editor_adds_removes_and_imports(client_in):
    (a,) = make_products("A")
    source = make_source(mapping_mode="table")
    client_in.post(reverse("inventory:mapping-add", args=[source.pk]), {"external_code": "E-1", "sku": "A"})
    mapping = SkuMapping.objects.get()
    assert (mapping.external_code, mapping.product) == ("E-1", a)
    response = client_in.post(reverse("inventory:mapping-add", args=[source.pk]), {"external_code": "E-2", "sku": "Z"})
    assert SkuMapping.objects.count() == 1 and response.status_code == 302
    client_in.post(reverse("inventory:mapping-delete", args=[source.pk, mapping.pk]))
    assert not SkuMapping.objects.exists()
    upload = io.BytesIO(b"external_code,sku\nE-5,A\nE-6,NOPE\n")
    upload.name = "map.csv"
    client_in.post(reverse("inventory:mapping-import", args=[source.pk]), {"file": upload})
    assert list(SkuMapping.objects.values_list("external_code", flat=True)) == ["E-5"]
    page = client_in.get(source.get_absolute_url()).content.decode()
    assert "E-5" in page


def test_products_page_shows_stock_per_source_and_the_push_log(client_in, http_server, run_tasks):
    (a,) = make_products("A")
    one = make_source(name="Warehouse", url=http_server.url + "/s.csv")
    http_server.csv("/s.csv", stock_csv([("A", 3)]))
    with run_tasks():
        client_in.post(reverse("inventory:source-sync", args=[one.pk]))
    channel = channel_create(kind="shopify", name="Shop", credentials={"shop": "x", "access_token": "t"})
    StockPush.objects.create(product=a, channel=channel, quantity=3, ok=True, message="available set to 3")
    page = client_in.get(reverse("inventory:product-list")).content.decode()
    assert "Warehouse" in page and "Shop: 3" in page
    detail = client_in.get(a.get_absolute_url()).content.decode()
    assert "available set to 3" in detail


def test_products_can_be_added_and_imported(client_in):
    client_in.post(reverse("inventory:product-create"), {"sku": "NEW", "name": "New thing"})
    assert Product.objects.get(sku="NEW").name == "New thing"
    upload = io.BytesIO(b"sku,name\nP-1,One\nP-2,Two\n")
    upload.name = "products.csv"
    client_in.post(reverse("inventory:product-import"), {"file": upload})
    assert set(Product.objects.values_list("sku", flat=True)) == {"NEW", "P-1", "P-2"}


def test_order_skus_without_a_product_are_listed_and_created_in_one_click(client_in):
    channel = channel_create(kind="shopify", name="Shop", credentials={"shop": "x", "access_token": "t"})
    sell_on(channel, "ORDERED-1")
    page = client_in.get(reverse("inventory:product-list")).content.decode()
    assert "ORDERED-1" in page
    client_in.post(reverse("inventory:product-from-order-sku"), {"sku": "ORDERED-1"})
    assert Product.objects.filter(sku="ORDERED-1").exists()


def test_channel_stock_settings_are_saved(client_in):
    channel = channel_create(kind="shopify", name="Shop", credentials={"shop": "x", "access_token": "t"})
    page = client_in.get(reverse("inventory:channels")).content.decode()
    assert "Shop" in page
    client_in.post(
        reverse("inventory:channel-stock-update", args=[channel.pk]),
        {f"c{channel.pk}-push_enabled": "on", f"c{channel.pk}-safety_buffer": "4"},
    )
    assert ChannelStockSettings.objects.get(channel=channel).safety_buffer == 4
