"""What every reader hands back, and the one error they raise.

Readers are the inventory's adapters: they take plain configuration values (never a model),
talk to the outside world over a real transport, and return raw documents. They never touch the
database; `inventory.services` decides what the documents mean for our stock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


class ReaderError(Exception):
    """The source could not be read (connection refused, login failed, no such file, HTTP
    error...). The run fails and the retry policy takes over."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Document:
    """One response or file as it arrived. `payload` is the decoded JSON when the reader had to
    decode it anyway (to follow a next link), so it isn't decoded twice."""

    name: str
    data: bytes
    data_format: str  # "csv" or "json"
    page: int = 1
    payload: Any = None
    checksum: str = field(default="")
    # SFTP: the server's host key as "type base64", for pinning on first use.
    host_key: str = ""

    def __post_init__(self) -> None:
        if not self.checksum:
            self.checksum = hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class RecordFormat:
    """How records are laid out, whatever carried them."""

    data_format: str = "csv"
    sku_field: str = "sku"
    quantity_field: str = "quantity"
    json_list_path: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"


@dataclass(frozen=True)
class RestConfig:
    url: str
    record_format: RecordFormat
    auth_header: str = ""
    auth_token: str = ""
    pagination: str = "none"  # none, next_link, page_number
    next_link_path: str = "next"
    page_param: str = "page"
    max_pages: int = 1000


@dataclass(frozen=True)
class FileConfig:
    host: str
    port: int
    username: str = ""
    password: str = ""
    private_key: str = ""
    remote_path: str = ""
    host_key: str = ""
    data_format: str = "csv"
    timeout: float = 30.0
