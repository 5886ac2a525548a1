"""Each reader against a real local server over real sockets."""

from __future__ import annotations

import os
import time

import pytest

from inventory.readers import ftp, rest, sftp
from inventory.readers.base import FileConfig, ReaderError, RecordFormat, RestConfig
from inventory.readers.parsing import Unparseable, count_records, parse_csv, parse_json

from .servers import SftpServer, stock_csv

JSON = RecordFormat(data_format="json", sku_field="code", quantity_field="stock", json_list_path="data.items")


# -- REST -------------------------------------------------------------------------------------
def test_rest_reads_json_with_configured_fields_and_list_path(http_server):
    http_server.json("/stock", {"data": {"items": [{"code": "A-1", "stock": 5}, {"code": "B-2", "stock": "7"}]}})
    docs = rest.fetch(RestConfig(url=http_server.url + "/stock", record_format=JSON))
    assert len(docs) == 1
    parsed = parse_json(docs[0].data, JSON, payload=docs[0].payload)
    assert parsed.records == [(1, "A-1", 5), (2, "B-2", 7)]


def test_rest_sends_the_auth_token_in_the_configured_header(http_server):
    http_server.json("/stock", {"data": {"items": []}})
    config = RestConfig(
        url=http_server.url + "/stock", record_format=JSON, auth_header="X-Api-Key", auth_token="erp-token-123"
    )
    rest.fetch(config)
    assert http_server.requests[0].headers["X-Api-Key"] == "erp-token-123"


def test_rest_follows_next_links_in_the_body_and_the_link_header(http_server):
    base = http_server.url
    http_server.json("/p1", {"data": {"items": [{"code": "A", "stock": 1}]}, "links": {"next": "/p2?cursor=x"}})
    http_server.json(
        "/p2", {"data": {"items": [{"code": "B", "stock": 2}]}}, headers={"Link": f'<{base}/p3>; rel="next"'}
    )
    http_server.json("/p3", {"data": {"items": [{"code": "C", "stock": 3}]}})
    config = RestConfig(url=base + "/p1", record_format=JSON, pagination="next_link", next_link_path="links.next")
    docs = rest.fetch(config)
    assert [d.page for d in docs] == [1, 2, 3]
    assert [r.path for r in http_server.requests] == ["/p1", "/p2", "/p3"]
    assert http_server.requests[1].query == {"cursor": ["x"]}


def test_rest_pages_by_number_until_an_empty_page(http_server):
    pages = {"1": [{"code": "A", "stock": 1}, {"code": "B", "stock": 2}], "2": [{"code": "C", "stock": 3}]}
    http_server.routes["/stock"] = lambda q: (
        200,
        {"Content-Type": "application/json"},
        __import__("json").dumps({"data": {"items": pages.get(q["pg"][0], [])}}).encode(),
    )
    config = RestConfig(url=http_server.url + "/stock", record_format=JSON, pagination="page_number", page_param="pg")
    docs = rest.fetch(config)
    assert len(docs) == 2
    assert [r.query["pg"] for r in http_server.requests] == [["1"], ["2"], ["3"]]


def test_rest_reads_csv(http_server):
    http_server.csv("/stock.csv", stock_csv([("A", 1), ("B", 2)]))
    fmt = RecordFormat(data_format="csv")
    docs = rest.fetch(RestConfig(url=http_server.url + "/stock.csv", record_format=fmt))
    assert parse_csv(docs[0].data, fmt).records == [(2, "A", 1), (3, "B", 2)]


def test_rest_http_errors_are_reader_errors(http_server):
    http_server.fail("/stock", 503)
    with pytest.raises(ReaderError, match="HTTP 503"):
        rest.fetch(RestConfig(url=http_server.url + "/stock", record_format=JSON))
    assert len(http_server.requests) == 3  # the HTTP client's own retries first


def test_rest_connection_refused_is_a_reader_error():
    with pytest.raises(ReaderError, match="connect"):
        rest.fetch(RestConfig(url="http://127.0.0.1:9/stock", record_format=JSON))


# -- parsing ----------------------------------------------------------------------------------
def test_csv_rows_report_line_and_reason_and_keep_the_good_ones():
    text = "SKU;Qty\nA;1\n;4\nB;x\nC;-2\nD;2.5\nE;3.00\n\nF\nG;7\n"
    parsed = parse_csv(text.encode(), RecordFormat(delimiter=";", sku_field="sku", quantity_field="qty"))
    assert parsed.records == [(2, "A", 1), (7, "E", 3), (10, "G", 7)]
    assert [line for line, _ in parsed.invalid] == [3, 4, 5, 6, 9]
    reasons = dict(parsed.invalid)
    assert "empty" in reasons[3] and "not a whole number" in reasons[4] and "negative" in reasons[5]
    assert "columns" in reasons[9]


def test_csv_keeps_leading_zeros_and_reads_latin1_with_bom():
    data = "\ufeffsku,quantity\n000123,4\nÄPFEL,2\n".encode("utf-8")
    assert parse_csv(data, RecordFormat()).records == [(2, "000123", 4), (3, "ÄPFEL", 2)]
    latin = "sku,quantity\nCAFÉ,1\n".encode("latin-1")
    assert parse_csv(latin, RecordFormat(encoding="latin-1")).records == [(2, "CAFÉ", 1)]


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"", RecordFormat(), "empty"),
        (b"code,qty\nA,1\n", RecordFormat(), "No column 'sku'"),
        ("sku,quantity\nÄ,1\n".encode("utf-16"), RecordFormat(), "not valid utf-8"),
        (b"not json", JSON, "not valid JSON"),
        (b'{"data": {}}', JSON, "No list of records at 'data.items'"),
        (b'{"data": {"items": 3}}', JSON, "not a list"),
    ],
)
def test_unreadable_documents_raise_unparseable(data, fmt, message):
    with pytest.raises(Unparseable, match=message):
        if fmt.data_format == "json":
            parse_json(data, fmt)
        else:
            parse_csv(data, fmt)


def test_json_records_are_numbered_and_bad_ones_reported():
    body = b'{"data": {"items": [{"code": "A", "stock": 1}, "x", {"stock": 2}, {"code": "B", "stock": null}]}}'
    parsed = parse_json(body, JSON)
    assert parsed.records == [(1, "A", 1)]
    assert [line for line, _ in parsed.invalid] == [2, 3, 4]
    assert count_records(body, JSON) == 4


# -- FTP --------------------------------------------------------------------------------------
def _ftp_config(server, path: str) -> FileConfig:
    return FileConfig(
        host="127.0.0.1", port=server.port, username=server.user, password=server.password, remote_path=path
    )


def test_ftp_downloads_a_file_by_path(ftp_server, ftp_root):
    (ftp_root / "outbound" / "stock.csv").write_text(stock_csv([("A", 1)]))
    doc = ftp.fetch(_ftp_config(ftp_server, "/outbound/stock.csv"))
    assert doc.name == "/outbound/stock.csv"
    assert parse_csv(doc.data, RecordFormat()).records == [(2, "A", 1)]
    assert len(doc.checksum) == 64


def test_ftp_glob_picks_the_newest_matching_file(ftp_server, ftp_root):
    now = time.time()
    for name, age, sku in [("stock_1.csv", 300, "OLD"), ("stock_2.csv", 10, "NEW"), ("other.csv", 0, "NO")]:
        path = ftp_root / "outbound" / name
        path.write_text(stock_csv([(sku, 1)]))
        os.utime(path, (now - age, now - age))
    doc = ftp.fetch(_ftp_config(ftp_server, "/outbound/stock_*.csv"))
    assert doc.name == "/outbound/stock_2.csv"
    assert b"NEW" in doc.data


def test_ftp_errors_are_reader_errors(ftp_server, ftp_root):
    with pytest.raises(ReaderError, match="No file"):
        ftp.fetch(_ftp_config(ftp_server, "/outbound/stock_*.csv"))
    with pytest.raises(ReaderError):
        ftp.fetch(_ftp_config(ftp_server, "/outbound/missing.csv"))
    bad = FileConfig(host="127.0.0.1", port=ftp_server.port, username="stock", password="wrong", remote_path="x.csv")
    with pytest.raises(ReaderError, match="FTP 127.0.0.1"):
        ftp.fetch(bad)


# -- SFTP -------------------------------------------------------------------------------------
def _sftp_config(server, path: str, **overrides) -> FileConfig:
    values = dict(host="127.0.0.1", port=server.port, username=server.user, password=server.password, remote_path=path)
    values.update(overrides)
    return FileConfig(**values)


def test_sftp_downloads_the_newest_match_and_reports_the_host_key(sftp_server, sftp_root):
    now = time.time()
    for name, age in [("stock_a.csv", 100), ("stock_b.csv", 5)]:
        path = sftp_root / "outbound" / name
        path.write_text(stock_csv([(name, 1)]))
        os.utime(path, (now - age, now - age))
    doc = sftp.fetch(_sftp_config(sftp_server, "/outbound/stock_*.csv"))
    assert doc.name == "/outbound/stock_b.csv"
    assert doc.host_key == sftp_server.host_key


def test_sftp_refuses_a_server_whose_key_changed_before_logging_in(sftp_server, sftp_root):
    (sftp_root / "outbound" / "stock.csv").write_text(stock_csv([("A", 1)]))
    pinned = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOtherK"
    with pytest.raises(ReaderError, match="host key changed"):
        sftp.fetch(_sftp_config(sftp_server, "/outbound/stock.csv", host_key=pinned))
    assert sftp_server.logins == []  # no credential was sent


def test_sftp_wrong_password_is_a_reader_error(sftp_server, sftp_root):
    with pytest.raises(ReaderError, match="login refused"):
        sftp.fetch(_sftp_config(sftp_server, "/outbound/stock.csv", password="nope"))


def test_sftp_logs_in_with_a_private_key(sftp_root):
    import asyncssh

    client_key = asyncssh.generate_private_key("ssh-ed25519")
    server = SftpServer(sftp_root, client_public_key=client_key.export_public_key().decode())
    try:
        (sftp_root / "outbound" / "stock.csv").write_text(stock_csv([("A", 3)]))
        private = client_key.export_private_key("openssh").decode()
        doc = sftp.fetch(_sftp_config(server, "/outbound/stock.csv", password="", private_key=private))
        assert parse_csv(doc.data, RecordFormat()).records == [(2, "A", 3)]
        assert server.logins[-1] == "key:stock:ok"
    finally:
        server.stop()


def test_rest_refuses_a_snapshot_longer_than_the_page_cap(http_server):
    http_server.json("/stock", {"data": {"items": [{"code": "A", "stock": 1}]}})  # never empty
    config = RestConfig(
        url=http_server.url + "/stock", record_format=JSON, pagination="page_number", page_param="p", max_pages=3
    )
    with pytest.raises(ReaderError, match="more than 3 pages"):
        rest.fetch(config)
    assert len(http_server.requests) == 3
