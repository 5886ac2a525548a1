"""Stock from every kind of source to a channel, end to end over real sockets: an ERP's REST
endpoint, a webhook push to Fenicia's live server, CSV files on FTP and SFTP servers — each
applied and then pushed to the sandbox marketplace's Shopify inventory."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests

from channels.sandbox import SandboxServer
from channels.sandbox.inventory import sandbox_inventory
from channels.services import channel_create
from inventory import services
from inventory.models import InventoryDelivery, Product, RunStatus, StockPush
from tests.inventory.factories import make_products, make_source, sell_on
from tests.inventory.servers import FtpServer, SftpServer, StockHttpServer, stock_csv

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOP = "transports.myshopify.com"
TOKEN = "shpat_transports"
SECRET = "inventory-push-secret"


@pytest.fixture(autouse=True)
def _no_push_spacing(settings, monkeypatch):
    settings.FENICIA_STOCK_PUSH_INTERVAL_SECONDS = 0
    monkeypatch.setattr("inventory.push._sleep", lambda seconds: None)


@pytest.fixture
def sandbox():
    with SandboxServer(seed=9) as server:
        server.state.add_shop(SHOP, token=TOKEN)
        yield server


@pytest.fixture
def shop_stock(sandbox):
    inventory = sandbox_inventory(sandbox.state)
    inventory.add_variants(SHOP, ["REST-1", "HOOK-1", "FTP-1", "SFTP-1"])
    return inventory


@pytest.fixture
def channel(sandbox, shop_stock):
    channel = channel_create(
        kind="shopify",
        name="Sandbox shop",
        api_base_url=sandbox.url,
        credentials={"shop": SHOP, "access_token": TOKEN},
        webhook_secret="s",
    )
    make_products("REST-1", "HOOK-1", "FTP-1", "SFTP-1")
    sell_on(channel, "REST-1", "HOOK-1", "FTP-1", "SFTP-1")
    return channel


def test_rest_source_to_shopify(channel, shop_stock):
    erp = StockHttpServer()
    try:
        erp.json("/api/stock", {"results": [{"item": "REST-1", "free": 12}], "next": None})
        source = make_source(
            url=erp.url + "/api/stock",
            data_format="json",
            json_list_path="results",
            sku_field="item",
            quantity_field="free",
            pagination="next_link",
            auth_header="X-Api-Key",
            auth_token="erp-key",
        )
        run = services.source_sync_start(source=source)  # runs at once: no transaction to wait for
        run.refresh_from_db()
        assert run.status == RunStatus.COMPLETED, run.error
        assert erp.requests[0].headers["X-Api-Key"] == "erp-key"
    finally:
        erp.stop()
    assert shop_stock.available(SHOP, "REST-1") == 12
    assert StockPush.objects.get(product__sku="REST-1").ok


def test_webhook_push_over_http_to_shopify(live_server, channel, shop_stock):
    source = make_source(
        kind="webhook", webhook_auth="hmac", webhook_header="X-Fenicia-Signature", webhook_secret=SECRET
    )
    url = live_server.url + source.webhook_path
    body = b"sku,quantity\nHOOK-1,9\n"
    forged = requests.post(
        url, data=body, headers={"Content-Type": "text/csv", "X-Fenicia-Signature": "sha256=" + "0" * 64}, timeout=10
    )
    assert forged.status_code == 401
    assert not InventoryDelivery.objects.exists()

    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = requests.post(
        url, data=body, headers={"Content-Type": "text/csv", "X-Fenicia-Signature": signature}, timeout=10
    )
    assert response.status_code == 202, response.text
    assert json.loads(response.content)["delivery"] == InventoryDelivery.objects.get().pk
    assert Product.objects.get(sku="HOOK-1").available == 9
    assert shop_stock.available(SHOP, "HOOK-1") == 9


def test_ftp_and_sftp_files_to_shopify(tmp_path, channel, shop_stock):
    ftp_root, sftp_root = tmp_path / "ftp", tmp_path / "sftp"
    ftp_root.mkdir()
    sftp_root.mkdir()
    (ftp_root / "stock.csv").write_text(stock_csv([("FTP-1", 3)]))
    (sftp_root / "stock.csv").write_text(stock_csv([("SFTP-1", 4)]))
    ftp_server, sftp_server = FtpServer(ftp_root), SftpServer(sftp_root)
    try:
        for kind, server in (("ftp", ftp_server), ("sftp", sftp_server)):
            source = make_source(
                kind=kind,
                host="127.0.0.1",
                port=server.port,
                username=server.user,
                password=server.password,
                remote_path="stock.csv",
            )
            run = services.source_sync_start(source=source)
            run.refresh_from_db()
            assert run.status == RunStatus.COMPLETED, run.error
            again = services.source_sync_start(source=source)
            again.refresh_from_db()
            assert "already applied" in again.message
    finally:
        ftp_server.stop()
        sftp_server.stop()
    assert shop_stock.available(SHOP, "FTP-1") == 3
    assert shop_stock.available(SHOP, "SFTP-1") == 4
    assert len(shop_stock.applied_calls(SHOP)) == 2  # one push per file, none for the skipped repeats
