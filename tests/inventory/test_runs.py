"""Runs end to end against real servers: read, parse, map, apply, report."""

from __future__ import annotations

import pytest
from django_q.models import Schedule

from inventory import services
from inventory.models import (
    AppliedFile,
    InventorySource,
    Product,
    RunStatus,
    SkuMapping,
    SourceStatus,
    StockLevel,
)

from .factories import make_products, make_source
from .servers import stock_csv

pytestmark = pytest.mark.django_db


def sync(source, run_tasks, **kwargs):
    with run_tasks():
        run = services.source_sync_start(source=source, **kwargs)
    run.refresh_from_db()
    source.refresh_from_db()
    return run


def levels(source) -> dict[str, int]:
    return dict(StockLevel.objects.filter(source=source).values_list("product__sku", "quantity"))


def test_rest_json_run_applies_valid_rows_and_reports_the_rest(http_server, run_tasks):
    make_products("A", "B", "C")
    http_server.json(
        "/stock",
        {
            "items": [
                {"sku": "A", "qty": 5},
                {"sku": "B", "qty": "x"},
                {"sku": "GHOST", "qty": 2},
                {"sku": "C", "qty": 0},
                {"sku": "A", "qty": 9},
            ]
        },
    )
    source = make_source(
        url=http_server.url + "/stock", data_format="json", json_list_path="items", quantity_field="qty"
    )
    run = sync(source, run_tasks)
    assert run.status == RunStatus.COMPLETED
    assert levels(source) == {"A": 5, "C": 0}
    assert run.records_processed == 5
    assert run.products_updated == 2
    assert run.unmapped_count == 1 and run.unmapped_skus == [{"sku": "GHOST", "line": 3, "quantity": 2}]
    assert run.invalid_count == 2
    assert [r["line"] for r in run.invalid_rows] == [2, 5]
    assert "repeated (first on line 1)" in run.invalid_rows[1]["reason"]
    assert source.status == SourceStatus.COMPLETED and source.last_successful_sync_at is not None
    assert Product.objects.get(sku="A").available == 5


def test_skus_absent_from_a_file_keep_their_stock(http_server, run_tasks):
    make_products("A", "B")
    source = make_source(url=http_server.url + "/s.csv")
    http_server.csv("/s.csv", stock_csv([("A", 1), ("B", 2)]))
    sync(source, run_tasks)
    http_server.csv("/s.csv", stock_csv([("A", 7)]))
    run = sync(source, run_tasks)
    assert levels(source) == {"A": 7, "B": 2}
    assert run.products_updated == 1


def test_unchanged_levels_count_as_not_updated(http_server, run_tasks):
    make_products("A", "B")
    source = make_source(url=http_server.url + "/s.csv")
    http_server.csv("/s.csv", stock_csv([("A", 1), ("B", 2)]))
    assert sync(source, run_tasks).products_updated == 2
    assert sync(source, run_tasks).products_updated == 0


def test_a_document_that_cannot_be_parsed_changes_nothing(http_server, run_tasks):
    make_products("A")
    source = make_source(url=http_server.url + "/s.csv")
    http_server.csv("/s.csv", stock_csv([("A", 4)]))
    sync(source, run_tasks)
    http_server.csv("/s.csv", "code;qty\nA;1\n")  # wrong columns: nothing can be read
    run = sync(source, run_tasks)
    assert run.status == RunStatus.ERROR
    assert "No column 'sku'" in run.error
    assert levels(source) == {"A": 4}
    assert source.status == SourceStatus.PENDING and source.next_retry_at is not None


def test_total_available_sums_every_source(http_server, run_tasks):
    make_products("A")
    one = make_source(url=http_server.url + "/one.csv")
    two = make_source(url=http_server.url + "/two.csv")
    http_server.csv("/one.csv", stock_csv([("A", 3)]))
    http_server.csv("/two.csv", stock_csv([("A", 4)]))
    sync(one, run_tasks)
    sync(two, run_tasks)
    assert Product.objects.get(sku="A").available == 7
    services.source_delete(source=two)
    assert Product.objects.get(sku="A").available == 3


def test_explicit_mapping_wins_and_table_mode_ignores_plain_skus(http_server, run_tasks):
    a, b = make_products("A", "B")
    source = make_source(url=http_server.url + "/s.csv")
    SkuMapping.objects.create(source=source, external_code="ERP-1", product=b)
    http_server.csv("/s.csv", stock_csv([("ERP-1", 8), ("A", 2)]))
    sync(source, run_tasks)
    assert levels(source) == {"A": 2, "B": 8}
    services.source_update(source=source, mapping_mode="table")
    http_server.csv("/s.csv", stock_csv([("ERP-1", 9), ("A", 5)]))
    run = sync(source, run_tasks)
    assert levels(source) == {"A": 2, "B": 9}
    assert [u["sku"] for u in run.unmapped_skus] == ["A"]


def test_two_codes_for_one_product_keep_the_first(http_server, run_tasks):
    (a,) = make_products("A")
    source = make_source(url=http_server.url + "/s.csv")
    SkuMapping.objects.create(source=source, external_code="OLD-A", product=a)
    http_server.csv("/s.csv", stock_csv([("OLD-A", 1), ("A", 2)]))
    run = sync(source, run_tasks)
    assert levels(source) == {"A": 1}
    assert "maps to the same product as line 2" in run.invalid_rows[0]["reason"]


def test_mapping_csv_import_reports_bad_lines(http_server):
    make_products("A", "B")
    source = make_source()
    data = b"external_code,sku\nX1,A\nX2,NOPE\n,B\nX1,B\n"
    result = services.mappings_import_csv(source=source, data=data)
    assert (result.created, result.updated) == (1, 1)
    assert [line for line, _ in result.errors] == [3, 4]
    assert dict(source.mappings.values_list("external_code", "product__sku")) == {"X1": "B"}


def test_product_csv_import_creates_and_updates():
    Product.objects.create(sku="A", name="Old")
    result = services.products_import_csv(data=b"sku;name;barcode\nA;New name;123\nB;Bee;\n;x;\n")
    assert (result.created, result.updated, len(result.errors)) == (1, 1, 1)
    assert Product.objects.get(sku="A").name == "New name"


def test_create_product_from_unmapped_sku_applies_its_quantity(ftp_server, ftp_root, run_tasks):
    (ftp_root / "outbound" / "stock.csv").write_text(stock_csv([("A", 1), ("NEW-1", 6)]))
    make_products("A")
    source = make_source(
        kind="ftp",
        host="127.0.0.1",
        port=ftp_server.port,
        username=ftp_server.user,
        password=ftp_server.password,
        remote_path="/outbound/stock.csv",
    )
    run = sync(source, run_tasks)
    assert run.unmapped_skus == [{"sku": "NEW-1", "line": 3, "quantity": 6}]
    product = services.product_create_from_unmapped(source=source, sku="NEW-1")
    product.refresh_from_db()
    assert product.available == 6
    assert levels(source) == {"A": 1, "NEW-1": 6}
    # The file was applied already: the next sync skips it, and NEW-1 keeps its stock.
    again = sync(source, run_tasks)
    assert "already applied" in again.message
    assert levels(source)["NEW-1"] == 6


# -- files ------------------------------------------------------------------------------------
def test_the_same_file_twice_is_applied_once(ftp_server, ftp_root, run_tasks):
    make_products("A")
    (ftp_root / "outbound" / "stock.csv").write_text(stock_csv([("A", 5)]))
    source = make_source(
        kind="ftp",
        host="127.0.0.1",
        port=ftp_server.port,
        username=ftp_server.user,
        password=ftp_server.password,
        remote_path="/outbound/stock.csv",
    )
    first = sync(source, run_tasks)
    StockLevel.objects.filter(source=source).update(quantity=99)  # if re-applied, this would go back to 5
    second = sync(source, run_tasks)
    assert first.records_processed == 1 and first.products_updated == 1
    assert second.status == RunStatus.COMPLETED
    assert second.records_processed == 0 and "already applied" in second.message
    assert second.file_checksum == first.file_checksum
    assert levels(source) == {"A": 99}
    assert AppliedFile.objects.filter(source=source).count() == 1
    # New content under the same name is a new file.
    (ftp_root / "outbound" / "stock.csv").write_text(stock_csv([("A", 6)]))
    third = sync(source, run_tasks)
    assert third.products_updated == 1 and levels(source) == {"A": 6}
    assert AppliedFile.objects.filter(source=source).count() == 2


def test_sftp_source_pins_the_host_key_on_first_use(sftp_server, sftp_root, run_tasks):
    make_products("A")
    (sftp_root / "outbound" / "stock.tsv").write_text("SKU\tQTY\nA\t4\n", encoding="latin-1")
    source = make_source(
        kind="sftp",
        host="127.0.0.1",
        port=sftp_server.port,
        username=sftp_server.user,
        password=sftp_server.password,
        remote_path="/outbound/*.tsv",
        delimiter="\\t",
        encoding="latin-1",
        quantity_field="qty",
    )
    run = sync(source, run_tasks)
    assert run.status == RunStatus.COMPLETED, run.error
    assert levels(source) == {"A": 4}
    assert source.host_key == sftp_server.host_key
    InventorySource.objects.filter(pk=source.pk).update(
        host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnotherKeyAnotherKeyAnotherKeyAnotherKeyAn"
    )
    source.refresh_from_db()
    run = sync(source, run_tasks)
    assert run.status == RunStatus.ERROR and "host key changed" in run.error


# -- scheduling -------------------------------------------------------------------------------
def test_the_schedule_follows_the_frequency():
    source = make_source(frequency_minutes=15)
    schedule = Schedule.objects.get(name=services.schedule_name(source.pk))
    assert (schedule.func, schedule.minutes, schedule.schedule_type) == (
        "inventory.tasks.scheduled_sync",
        15,
        Schedule.MINUTES,
    )
    services.source_update(source=source, frequency_minutes=60)
    assert Schedule.objects.get(name=services.schedule_name(source.pk)).minutes == 60
    services.source_update(source=source, frequency_minutes=0)
    assert not Schedule.objects.filter(name=services.schedule_name(source.pk)).exists()
    webhook = make_source(kind="webhook", frequency_minutes=5, webhook_secret="s")
    assert webhook.frequency_minutes == 0
    assert not Schedule.objects.filter(name=services.schedule_name(webhook.pk)).exists()


def test_sync_now_twice_gives_one_run(http_server):
    source = make_source(url=http_server.url + "/s.csv")
    first = services.source_sync_start(source=source)
    second = services.source_sync_start(source=source)
    assert first.pk == second.pk


def test_a_redelivered_run_task_does_nothing(http_server, run_tasks):
    make_products("A")
    http_server.csv("/s.csv", stock_csv([("A", 1)]))
    source = make_source(url=http_server.url + "/s.csv")
    run = sync(source, run_tasks)
    assert services.run_execute(run_id=run.pk) is None
    assert len(http_server.requests) == 1
