"""Real local servers for the inventory readers, each on 127.0.0.1 with an ephemeral port and
its own thread: an HTTP server (stdlib http.server), an FTP server (pyftpdlib) and an SFTP
server (asyncssh's own SFTP server with a generated host key). Tests talk to them over real
sockets; nothing is mocked below the socket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class StockHttpServer:
    """Routes are path -> an Answer or a callable(query) -> Answer. Every request is recorded.
    `hold` (an Event) makes every answer wait until it is set: a test can look at a run while
    the source is "slow"."""

    routes: dict[str, Answer | Callable[[dict[str, list[str]]], Answer]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    hold: threading.Event | None = None

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                owner.requests.append(Seen("GET", parts.path, query, dict(self.headers)))
                if owner.hold is not None:
                    owner.hold.wait(30)
                route = owner.routes.get(parts.path)
                if route is None:
                    status, headers, body = 404, {"Content-Type": "application/json"}, b'{"error": "not found"}'
                else:
                    status, headers, body = route(query) if callable(route) else route
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def json(self, path: str, payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.routes[path] = (
            status,
            {"Content-Type": "application/json", **(headers or {})},
            json.dumps(payload).encode(),
        )

    def csv(self, path: str, text: str | bytes, *, status: int = 200) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.routes[path] = (status, {"Content-Type": "text/csv"}, body)

    def fail(self, path: str, status: int = 503) -> None:
        self.routes[path] = (status, {"Content-Type": "text/plain"}, b"Service Unavailable")

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class FtpServer:
    """pyftpdlib serving `root` read-only to one user."""

    def __init__(self, root: Path, *, user: str = "stock", password: str = "ftp-secret") -> None:
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer

        authorizer = DummyAuthorizer()
        authorizer.add_user(user, password, str(root), perm="elr")
        handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "fenicia test ftp"})
        self.user, self.password, self.root = user, password, root
        self.server = FTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.address[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.server.ioloop.loop(0.05, blocking=False)
        self.server.close_all()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


class SftpServer:
    """asyncssh's SFTP server chrooted at `root`, password and (optionally) key logins, with a
    fresh Ed25519 host key. `host_key` is its public key line, as a source would pin it."""

    def __init__(
        self, root: Path, *, user: str = "stock", password: str = "sftp-secret", client_public_key: str = ""
    ) -> None:
        import asyncssh

        self.root, self.user, self.password = root, user, password
        self.key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self.key.export_public_key("openssh").decode().split()[0:2]
        self.host_key = " ".join(self.host_key)
        self.logins: list[str] = []
        owner = self
        authorized = asyncssh.import_authorized_keys(client_public_key) if client_public_key else None

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                ok = username == owner.user and password == owner.password
                owner.logins.append(f"password:{username}:{'ok' if ok else 'refused'}")
                return ok

            def public_key_auth_supported(self) -> bool:
                return authorized is not None

            def validate_public_key(self, username: str, key) -> bool:
                ok = username == owner.user and authorized is not None and authorized.validate(key, "", "") is not None
                owner.logins.append(f"key:{username}:{'ok' if ok else 'refused'}")
                return ok

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start():
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[self.key],
                server_factory=Server,
                sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root)),
                allow_scp=False,
            )

        self.acceptor = asyncio.run_coroutine_threadsafe(start(), self.loop).result(15)
        self.port = self.acceptor.get_port()

    def stop(self) -> None:
        async def close():
            self.acceptor.close()
            await self.acceptor.wait_closed()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:  # open sessions: end them rather than leave them pending
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


def stock_csv(rows: list[tuple[str, Any]], *, header: str = "sku,quantity", delimiter: str = ",") -> str:
    lines = [header.replace(",", delimiter)]
    lines += [f"{sku}{delimiter}{qty}" for sku, qty in rows]
    return "\n".join(lines) + "\n"
