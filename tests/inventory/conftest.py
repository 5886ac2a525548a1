"""Fixtures for the inventory tests: real local servers and a few builders."""

from __future__ import annotations

import pytest

from .servers import FtpServer, SftpServer, StockHttpServer


@pytest.fixture(autouse=True)
def _no_push_spacing(settings, monkeypatch):
    # Batches to one channel are spaced in production; tests never wait for it.
    settings.FENICIA_STOCK_PUSH_INTERVAL_SECONDS = 0
    monkeypatch.setattr("inventory.push._sleep", lambda seconds: None)


@pytest.fixture
def http_server():
    server = StockHttpServer()
    yield server
    server.stop()


@pytest.fixture
def ftp_root(tmp_path):
    root = tmp_path / "ftp"
    (root / "outbound").mkdir(parents=True)
    return root


@pytest.fixture
def ftp_server(ftp_root):
    server = FtpServer(ftp_root)
    yield server
    server.stop()


@pytest.fixture
def sftp_root(tmp_path):
    root = tmp_path / "sftp"
    (root / "outbound").mkdir(parents=True)
    return root


@pytest.fixture
def sftp_server(sftp_root):
    server = SftpServer(sftp_root)
    yield server
    server.stop()
