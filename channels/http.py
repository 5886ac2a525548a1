"""The one HTTP client every adapter uses.

It owns what every channel call needs and nobody should re-implement: mandatory connect/read
timeouts, a User-Agent, translation of transport failures and status codes into our small
error set, the retry policy of the product documents (3 attempts, waiting attempt x 1.5 s,
`Retry-After` honoured when longer), and a redacted log of each attempt for the timeline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from .adapters.base import (
    AuthExpired,
    ChannelError,
    InvalidData,
    OrderNotFound,
    RateLimited,
    TransientError,
)

logger = logging.getLogger(__name__)

USER_AGENT = "Fenicia/0.1 (+https://github.com/fenicia-hub)"
SENSITIVE_HEADERS = {
    "authorization",
    "x-shopify-access-token",
    "x-tts-access-token",
    "x-amz-access-token",
    "wm_sec.access_token",
    "cookie",
}
EXCERPT_CHARS = 500


def _sleep(seconds: float) -> None:
    """Indirection so tests can replace waiting with recording."""
    time.sleep(seconds)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` is seconds (Shopify sends "2.0") or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


def retry_wait(attempt: int, retry_after: float | None) -> float:
    """Wait before the next attempt: attempt x backoff, or the channel's Retry-After if longer."""
    wait = attempt * settings.FENICIA_HTTP_BACKOFF_SECONDS
    if retry_after is not None and retry_after > wait:
        wait = retry_after
    return min(wait, settings.FENICIA_HTTP_MAX_WAIT_SECONDS)


def error_for_response(response: requests.Response, message: str | None = None) -> ChannelError | None:
    """Map an HTTP status to our error set; None for success."""
    status = response.status_code
    if status < 400:
        return None
    excerpt = (response.text or "")[:EXCERPT_CHARS]
    text = message or f"HTTP {status} from {response.request.method if response.request else ''} {_path(response.url)}"
    details = {"status": status, "body": excerpt}
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(
            f"Rate limited by the channel ({text})", retry_after=retry_after, status=status, details=details
        )
    if status in (401, 403):
        return AuthExpired(f"The channel refused our credentials ({text})", status=status, details=details)
    if status == 404:
        return OrderNotFound(f"Not found at the channel ({text})", status=status, details=details)
    if status >= 500 or status in (408, 423):
        return TransientError(f"The channel is unavailable ({text})", status=status, details=details)
    return InvalidData(f"The channel rejected the request: {excerpt or text}", status=status, details=details)


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("[redacted]" if k.lower() in SENSITIVE_HEADERS else v) for k, v in headers.items()}


class HttpClient:
    """A requests.Session with Fenicia's timeouts, error mapping and retry policy.

    `inspect` lets an adapter turn a 2xx body into an error (GraphQL reports THROTTLED with
    HTTP 200); whatever it raises goes through the same retry policy.
    """

    def __init__(
        self,
        *,
        attempts: int | None = None,
        timeout: tuple[float, float] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.attempts = attempts or settings.FENICIA_HTTP_ATTEMPTS
        self.timeout = timeout or settings.FENICIA_HTTP_TIMEOUT
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # One entry per attempt: method, path, status, duration, error. Secrets never enter it.
        self.log: list[dict[str, Any]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
        retry: bool = True,
        inspect: Callable[[requests.Response], None] | None = None,
    ) -> requests.Response:
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            entry: dict[str, Any] = {"attempt": attempt, "method": method, "path": _path(url)}
            try:
                response = self.session.request(
                    method, url, headers=headers, json=json, data=data, params=params, timeout=self.timeout
                )
                entry["status"] = response.status_code
                error = error_for_response(response)
                if error is None and inspect is not None:
                    inspect(response)
                if error is not None:
                    raise error
                entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
                self.log.append(entry)
                return response
            except requests.Timeout as exc:
                failure: ChannelError = TransientError(f"Timed out calling {_path(url)}: {exc.__class__.__name__}")
            except requests.ConnectionError as exc:
                failure = TransientError(f"Could not connect to {_path(url)}: {exc.__class__.__name__}")
            except ChannelError as exc:
                failure = exc
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            entry["error"] = f"{failure.__class__.__name__}: {failure.message}"[:EXCERPT_CHARS]
            self.log.append(entry)
            if not failure.retryable or attempt == attempts:
                raise failure
            wait = retry_wait(attempt, getattr(failure, "retry_after", None))
            entry["wait_s"] = wait
            logger.info("Retrying %s %s in %.1fs after %s", method, _path(url), wait, entry["error"])
            _sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover
