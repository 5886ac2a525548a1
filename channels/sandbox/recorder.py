"""A webhook receiver that records what it is sent: the other end of the sandbox's webhooks
in tests and demos where Fenicia itself isn't listening."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        recorder = self.server.recorder
        status = recorder.record(Delivery(self.path, dict(self.headers.items()), body))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recorder: WebhookRecorder


class WebhookRecorder:
    """`with WebhookRecorder() as hook: state.subscribe(shop, hook.url, secret)`; answers
    `status` (200 by default; set `statuses` to a list to answer those in turn first)."""

    def __init__(self, host: str = "127.0.0.1", status: int = 200) -> None:
        self.status = status
        self.statuses: list[int] = []
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        self._server = _Server((host, 0), _Handler)
        self._server.recorder = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/webhooks/shopify"

    def record(self, delivery: Delivery) -> int:
        with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()
            return self.statuses.pop(0) if self.statuses else self.status

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        """Block until at least `count` deliveries arrived (TimeoutError otherwise)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise TimeoutError(f"Only {len(self.deliveries)} of {count} webhooks arrived")
            return list(self.deliveries)

    def start(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        from .server import shut_down

        shut_down(self._server)

    def __enter__(self) -> WebhookRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
