"""`manage.py sync_inventory`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from inventory.models import InventorySyncRun, RunTrigger, StockLevel

from .factories import make_products, make_source
from .servers import stock_csv

pytestmark = pytest.mark.django_db


def test_sync_inventory_syncs_every_pull_source_with_a_progress_bar(http_server):
    make_products("A", "B")
    http_server.csv("/one.csv", stock_csv([("A", 1), ("B", "?")]))
    http_server.csv("/two.csv", stock_csv([("B", 2)]))
    make_source(name="One", url=http_server.url + "/one.csv")
    make_source(name="Two", url=http_server.url + "/two.csv")
    make_source(name="Pushed", kind="webhook", webhook_secret="s")
    out, err = StringIO(), StringIO()
    call_command("sync_inventory", stdout=out, stderr=err)
    assert "One: 2 records, 1 products updated, 0 unmapped, 1 invalid" in out.getvalue()
    assert "Two: 1 records, 1 products updated" in out.getvalue()
    assert "rows" in err.getvalue()  # tqdm's bar
    assert StockLevel.objects.count() == 2
    assert set(InventorySyncRun.objects.values_list("trigger", flat=True)) == {RunTrigger.COMMAND}


def test_sync_inventory_one_source_and_failures(http_server):
    source = make_source(name="Down", url=http_server.url + "/missing")
    out = StringIO()
    with pytest.raises(CommandError, match="1 source"):
        call_command("sync_inventory", source=source.pk, no_progress=True, stdout=out)
    assert "Down: failed: " in out.getvalue() and "HTTP 404" in out.getvalue()
    with pytest.raises(CommandError, match="No inventory source"):
        call_command("sync_inventory", source=99999)
