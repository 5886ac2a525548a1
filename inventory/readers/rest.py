"""REST API sources: GET the endpoint (and its further pages) through `channels.http.HttpClient`,
the one HTTP client of the project (timeouts, retries with backoff, Retry-After, redacted log).

Pagination is either a next link (a dotted path in the JSON body, else the `Link: <...>;
rel="next"` header) or a page-number query parameter counted from 1 until a page comes back
empty. Either way at most `max_pages` pages are read.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from channels.adapters.base import ChannelError
from channels.http import HttpClient

from .base import Document, ReaderError, RestConfig
from .parsing import Unparseable, count_records, decode_json, dig


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def fetch(config: RestConfig, *, http: HttpClient | None = None) -> list[Document]:
    """Every page of the source's current stock, in order. Raises ReaderError when the source
    can't be read, Unparseable when a page can't be decoded (so nothing gets applied)."""
    http = http or HttpClient()
    fmt = config.record_format
    headers = {"Accept": "application/json" if fmt.data_format == "json" else "text/csv, */*"}
    if config.auth_token:
        headers[config.auth_header or "Authorization"] = config.auth_token
    documents: list[Document] = []
    url: str | None = config.url
    seen: set[str] = set()
    page = 1
    while url and page <= config.max_pages:
        params = {config.page_param or "page": page} if config.pagination == "page_number" else None
        try:
            response = http.request("GET", url, headers=headers, params=params)
        except ChannelError as exc:
            raise ReaderError(_describe(exc, url)) from exc
        payload = decode_json(response.content, fmt) if fmt.data_format == "json" else None
        document = Document(
            name=_path(response.url or url), data=response.content, data_format=fmt.data_format, page=page
        )
        document.payload = payload
        if config.pagination == "page_number":
            if count_records(response.content, fmt, payload=payload) == 0:
                break
            documents.append(document)
        else:
            documents.append(document)
            if config.pagination != "next_link":
                break
            seen.add(url)
            url = _next_link(response, payload, config, current=url)
            if url in seen:
                raise Unparseable(f"The next link of page {page} points back to a page already read: {url}")
        page += 1
    if url and page > config.max_pages and config.pagination != "none":
        # A truncated snapshot would silently leave the rest of the catalogue stale.
        raise ReaderError(f"{_path(config.url)} has more than {config.max_pages} pages; nothing was applied")
    if not documents and config.pagination != "page_number":
        raise ReaderError(f"{_path(config.url)} returned nothing")
    return documents


def _next_link(response, payload, config: RestConfig, *, current: str) -> str | None:
    link = None
    if payload is not None and config.next_link_path:
        value = dig(payload, config.next_link_path)
        if isinstance(value, str) and value.strip():
            link = value.strip()
    if link is None:
        link = (response.links.get("next") or {}).get("url")
    return urljoin(current, link) if link else None


def _describe(exc: ChannelError, url: str) -> str:
    if exc.status:
        body = str((exc.details or {}).get("body") or "").strip().replace("\n", " ")
        return f"{_path(url)} answered HTTP {exc.status}" + (f": {body[:200]}" if body else "")
    return exc.message
