"""The sandbox over real sockets: Shopify's API paths under `/admin/`, JSON control endpoints
under `/_sandbox/`, a background order generator.

API calls (`/admin/...`) go through the fault queue and the request log; control calls never do.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from . import data
from .graphql import operation_name
from .inventory import control_routes as stock_control_routes
from .shopify import INVALID_TOKEN, estimated_cost, throttled_body
from .state import Fault, SandboxError, SandboxState, dumps

logger = logging.getLogger(__name__)

GRAPHQL_PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/graphql\.json$")
OAUTH_PATH = "/admin/oauth/access_token"
MAX_BODY = 10 * 1024 * 1024


def shut_down(httpd: ThreadingHTTPServer) -> None:
    """Stop `serve_forever` now: it only notices shutdown between polls, so a throwaway
    connection wakes it instead of waiting out the poll interval."""
    closer = threading.Thread(target=httpd.shutdown, daemon=True)
    closer.start()
    host, port = httpd.server_address[:2]
    while closer.is_alive():
        try:
            socket.create_connection((str(host), int(port)), timeout=0.2).close()
        except OSError:
            pass
        closer.join(0.01)
    httpd.server_close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sandbox: SandboxServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
    disable_nagle_algorithm = True
    server_version = "FeniciaSandbox/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections give up their thread eventually
    server: _HTTPServer

    # -- plumbing ------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.server.sandbox._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sandbox._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        logger.debug("sandbox %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload if isinstance(payload, bytes) else dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(413, {"errors": "Request entity too large"})
            return
        if path.startswith("/_sandbox"):
            self._control(path, body)
        elif path.startswith("/admin/"):
            self._api(path, body)
        elif path in ("/", ""):
            self._send(
                200,
                {
                    "sandbox": "Fenicia sandbox marketplace",
                    "shops": sorted(self.sandbox.state.shops),
                    "graphql": "/admin/api/<version>/graphql.json",
                    "control": "/_sandbox/",
                },
            )
        else:
            self._send(404, {"errors": "Not Found"})

    @property
    def sandbox(self) -> SandboxServer:
        return self.server.sandbox

    # -- Shopify's API -------------------------------------------------------------------
    def _api(self, path: str, body: bytes) -> None:
        state = self.sandbox.state
        started = time.monotonic()
        payload = self._parse_api_body(body)
        operation = None
        if GRAPHQL_PATH.match(path):
            query = payload.get("query") if isinstance(payload, dict) else None
            operation = (payload.get("operationName") if isinstance(payload, dict) else None) or operation_name(
                query if isinstance(query, str) else ""
            )
        elif path == OAUTH_PATH:
            operation = "oauth.access_token"
        entry: dict[str, Any] = {
            "method": self.command,
            "path": path,
            "operation": operation,
            "shop": None,
            "status": None,
            "fault": None,
        }

        def log(status: int | None) -> None:
            # Logged before the answer leaves, so a client that got its response sees the entry.
            entry["status"] = status
            entry["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
            state.log_request(entry)

        fault = state.faults.take(path, operation)
        if fault is not None:
            entry["fault"] = fault.kind
            if self._apply_fault(fault, entry, payload, log):
                return
        try:
            status, response, headers = self._answer_api(path, payload, entry)
        except Exception:  # a sandbox bug should look like a 500, not a hung client
            logger.exception("Sandbox failed answering %s %s", self.command, path)
            status, response, headers = 500, {"errors": "Internal Server Error"}, {}
        log(status)
        if fault is not None and fault.kind == "drop_after_processing":
            self._hang_up()  # the call took effect; the client never hears so
            return
        self._send(status, response, headers)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _parse_api_body(self, body: bytes) -> Any:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type == "application/graphql":
            return {"query": body.decode("utf-8", "replace")}
        if content_type == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8", "replace")))
        try:
            return json.loads(body) if body else {}
        except ValueError:
            return None

    def _apply_fault(
        self, fault: Fault, entry: dict[str, Any], payload: Any, log: Callable[[int | None], None]
    ) -> bool:
        """Act out a fault; True when the request is finished with."""
        stop = self.sandbox._stopping
        if fault.kind == "slow":
            stop.wait(fault.seconds)
            return False
        if fault.kind == "drop_after_processing":
            return False  # answered normally, then dropped by `_api`
        if fault.kind in ("drop", "timeout"):
            log(None)
            if fault.kind == "timeout":
                stop.wait(fault.seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        if fault.kind == "throttle":
            shop = self.sandbox.state.authenticate(self.headers.get("X-Shopify-Access-Token"))
            if shop is None:
                return False  # unauthenticated: the 401 wins
            query = payload.get("query") if isinstance(payload, dict) else None
            requested = estimated_cost(query, payload.get("variables") if isinstance(payload, dict) else None)
            entry["shop"] = shop.domain
            log(200)
            self._send(200, throttled_body(shop, requested))
            return True
        headers = {}
        if fault.status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        log(fault.status)
        self._send(fault.status or 500, fault.body, headers)
        return True

    def _answer_api(self, path: str, payload: Any, entry: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        state = self.sandbox.state
        if path == OAUTH_PATH:
            if self.command != "POST":
                return 405, {"errors": "Method Not Allowed"}, {}
            if not isinstance(payload, dict):
                return 400, {"error": "invalid_request", "error_description": "Body must be JSON"}, {}
            status, response = state.refresh_access_token(payload)
            return status, response, {}
        match = GRAPHQL_PATH.match(path)
        if not match or self.command != "POST":
            return 404, {"errors": "Not Found"}, {}
        shop = state.authenticate(self.headers.get("X-Shopify-Access-Token"))
        if shop is None:
            return 401, {"errors": INVALID_TOKEN}, {}
        entry["shop"] = shop.domain
        headers = {"X-Shopify-API-Version": match.group("version")}
        if not isinstance(payload, dict):
            return 400, {"errors": {"query": "Required parameter missing or invalid"}}, headers
        return 200, state.graphql(shop, payload), headers

    # -- control -------------------------------------------------------------------------
    def _control(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            self._send(400, {"error": "The body must be JSON"})
            return
        for method, pattern, handler in CONTROL_ROUTES:
            match = pattern.match(path)
            if match and method == self.command:
                try:
                    params = {k: unquote(v) for k, v in match.groupdict().items()}
                    status, response = handler(self.sandbox, payload if isinstance(payload, dict) else {}, **params)
                except SandboxError as exc:
                    status, response = exc.status, {"error": str(exc)}
                except (TypeError, ValueError, KeyError) as exc:
                    status, response = 400, {"error": f"{exc.__class__.__name__}: {exc}"}
                self._send(status, response)
                return
        self._send(404, {"error": f"No control endpoint {self.command} {path}"})


# -- control endpoints -----------------------------------------------------------------------
Route = Callable[..., tuple[int, Any]]


def _orders_rest(server: SandboxServer, shop: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    offset = server.state.shop(shop).utc_offset
    return [data.rest_order(o, offset=offset) for o in orders]


def _index(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    state = server.state
    with state.lock:
        shops = {
            name: {
                "orders": len(s.orders),
                "subscriptions": [sub.url for sub in s.subscriptions],
                "throttle": s.bucket.status(),
            }
            for name, s in state.shops.items()
        }
    return 200, {
        "url": server.url,
        "shops": shops,
        "faults": state.faults.pending(),
        "requests": state.request_counts(),
    }


def _requests(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    with server.state.lock:
        entries = list(server.state.requests)
    return 200, {"counts": server.state.request_counts(), "requests": entries}


def _erp_stock(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    """A merchant's ERP stock feed for the demo: every catalogue SKU with an on-hand quantity
    that falls as the sandbox's shops sell it, so inventory runs have something real to apply."""
    sold: dict[str, int] = {}
    with server.state.lock:
        shops = list(server.state.shops)
    for shop in shops:
        for order in server.state.list_orders(shop):
            if order.get("cancelled_at"):
                continue
            for line in order["line_items"]:
                sold[line["sku"]] = sold.get(line["sku"], 0) + line["current_quantity"]
    items = [
        {"sku": sku, "qty": max(0, 120 + (index * 37) % 90 - sold.get(sku, 0))}
        for index, (sku, *_rest) in enumerate(data.CATALOGUE)
    ]
    return 200, {"items": items}


def _clear_requests(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    server.state.clear_requests()
    return 200, {"cleared": True}


def _mutations(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"mutations": server.state.mutations()}


def _fulfillments(server: SandboxServer, body: dict[str, Any], shop: str, order_id: str) -> tuple[int, Any]:
    return 200, {
        "fulfillments": server.state.fulfillments(shop, order_id),
        "fulfillment_orders": server.state.fulfillment_orders(shop, order_id),
    }


def _deliveries(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    with server.state.lock:
        return 200, {"deliveries": list(server.state.deliveries)}


def _faults(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"faults": server.state.faults.pending()}


def _add_fault(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    specs = body.get("faults") if isinstance(body.get("faults"), list) else [body]
    for spec in specs:
        server.state.faults.add(spec)
    return 201, {"faults": server.state.faults.pending()}


def _clear_faults(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    server.state.faults.clear()
    return 200, {"faults": []}


def _add_shop(server: SandboxServer, body: dict[str, Any]) -> tuple[int, Any]:
    shop = body.pop("shop")
    server.state.add_shop(shop, **body)
    return 201, {"shop": shop}


def _list_orders(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    return 200, {"orders": _orders_rest(server, shop, server.state.list_orders(shop))}


def _create_orders(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    count = int(body.pop("count", 1))
    orders = server.state.create_orders(shop, count, **body)
    return 201, {"orders": _orders_rest(server, shop, orders)}


def _get_order(server: SandboxServer, body: dict[str, Any], shop: str, order_id: str) -> tuple[int, Any]:
    return 200, {"order": server.state.rest_order(shop, order_id)}


def _update_order(server: SandboxServer, body: dict[str, Any], shop: str, order_id: str) -> tuple[int, Any]:
    order = server.state.update_order(shop, order_id, **body)
    return 200, {"order": _orders_rest(server, shop, [order])[0]}


def _delete_order(server: SandboxServer, body: dict[str, Any], shop: str, order_id: str) -> tuple[int, Any]:
    server.state.delete_order(shop, order_id, notify=body.get("notify"))
    return 200, {"deleted": int(order_id)}


def _send_webhook(server: SandboxServer, body: dict[str, Any], shop: str, order_id: str) -> tuple[int, Any]:
    """{"topic": "orders/updated", "duplicate": false} or {"out_of_order": {changes}}."""
    if "out_of_order" in body:
        statuses = server.state.send_out_of_order(
            shop, order_id, topic=body.get("topic", "orders/updated"), **(body.get("out_of_order") or {})
        )
    else:
        statuses = server.state.send_webhook(
            shop, body.get("topic", "orders/updated"), order_id, duplicate=bool(body.get("duplicate"))
        )
    return 200, {"statuses": statuses}


def _subscribe(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    sub = server.state.subscribe(shop, body["url"], body.get("secret"), body.get("topics"))
    return 201, {"url": sub.url, "topics": sorted(sub.topics)}


def _subscriptions(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    with server.state.lock:
        subs = server.state.shop(shop).subscriptions
        return 200, {"subscriptions": [{"url": s.url, "topics": sorted(s.topics)} for s in subs]}


def _throttle(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    return 200, {"throttleStatus": server.state.set_throttle(shop, **body)}


def _revoke(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    return 200, {"revoked": server.state.revoke_token(shop, body.get("token"))}


def _start_generator(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    server.start_generator(
        shop, float(body.get("interval_seconds", 5.0)), update_ratio=float(body.get("update_ratio", 0.3))
    )
    return 201, {"generator": shop}


def _stop_generator(server: SandboxServer, body: dict[str, Any], shop: str) -> tuple[int, Any]:
    return 200, {"stopped": server.stop_generator(shop)}


_SHOP = r"/_sandbox/shops/(?P<shop>[^/]+)"
_ORDER = _SHOP + r"/orders/(?P<order_id>\d+)"
CONTROL_ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    (method, re.compile(f"^{pattern}/?$"), handler)
    for method, pattern, handler in (
        ("GET", "/_sandbox", _index),
        ("GET", "/_sandbox/requests", _requests),
        ("GET", "/_sandbox/erp/stock", _erp_stock),
        ("DELETE", "/_sandbox/requests", _clear_requests),
        ("GET", "/_sandbox/deliveries", _deliveries),
        ("GET", "/_sandbox/mutations", _mutations),
        ("GET", "/_sandbox/faults", _faults),
        ("POST", "/_sandbox/faults", _add_fault),
        ("DELETE", "/_sandbox/faults", _clear_faults),
        ("POST", "/_sandbox/shops", _add_shop),
        ("GET", _SHOP + "/orders", _list_orders),
        ("POST", _SHOP + "/orders", _create_orders),
        ("GET", _ORDER, _get_order),
        ("GET", _ORDER + "/fulfillments", _fulfillments),
        ("POST", _ORDER + "/update", _update_order),
        ("DELETE", _ORDER, _delete_order),
        ("POST", _ORDER + "/webhooks", _send_webhook),
        ("GET", _SHOP + "/webhooks", _subscriptions),
        ("POST", _SHOP + "/webhooks", _subscribe),
        ("POST", _SHOP + "/throttle", _throttle),
        ("POST", _SHOP + "/tokens/revoke", _revoke),
        ("POST", _SHOP + "/generator", _start_generator),
        ("DELETE", _SHOP + "/generator", _stop_generator),
    )
]
CONTROL_ROUTES += stock_control_routes(_SHOP)  # the stock side: channels/sandbox/inventory.py


# -- the server ------------------------------------------------------------------------------
class OrderGenerator:
    """Ticks `state.simulate_step` every `interval_seconds` in a daemon thread until stopped."""

    def __init__(
        self,
        state: SandboxState,
        shop: str,
        interval_seconds: float,
        update_ratio: float = 0.3,
        on_step: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        state.shop(shop)  # fail now on an unknown shop, not in the thread
        self.state, self.shop = state, shop
        self.interval = max(float(interval_seconds), 0.001)
        self.update_ratio = update_ratio
        self.on_step = on_step
        self.steps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sandbox-generator-{shop}", daemon=True)

    def start(self) -> OrderGenerator:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                action, order = self.state.simulate_step(self.shop, self.update_ratio)
                self.steps += 1
                if self.on_step is not None:
                    self.on_step(action, order)
            except Exception:  # a bad tick must not kill the demo
                logger.exception("Sandbox generator step failed for %s", self.shop)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()


class SandboxServer:
    """A Shopify-speaking HTTP server on a background thread.

    with SandboxServer(seed=7) as server:
        server.state.add_shop("demo.myshopify.com", token="shpat_x", webhook_secret="s")
        server.state.create_orders("demo.myshopify.com", 25)
        ...  # point api_base_url at server.url
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        *,
        state: SandboxState | None = None,
        **state_options: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.state = state or SandboxState(seed, **state_options)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.generators: dict[str, OrderGenerator] = {}

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("The sandbox is not running; call start() first")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 - only a display name
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.sandbox = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for generator in list(self.generators.values()):
            generator.stop()
        self.generators.clear()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in slow/timeout faults
        shut_down(httpd)
        with self._connections_lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # idle keep-alive connections would otherwise hold threads
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, opened: bool) -> None:
        with self._connections_lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # -- conveniences over the state -----------------------------------------------------
    def send_webhook(self, shop: str, topic: str, order_id: int | str, *, duplicate: bool = False) -> list[int | None]:
        return self.state.send_webhook(shop, topic, order_id, duplicate=duplicate)

    def send_out_of_order(
        self, shop: str, order_id: int | str, *, topic: str = "orders/updated", **changes: Any
    ) -> list[int | None]:
        return self.state.send_out_of_order(shop, order_id, topic=topic, **changes)

    def send_raw_webhook(self, shop: str, topic: str, body: bytes | dict[str, Any]) -> list[int | None]:
        return self.state.send_raw_webhook(shop, topic, body)

    def start_generator(
        self,
        shop: str,
        interval_seconds: float,
        update_ratio: float = 0.3,
        *,
        on_step: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> OrderGenerator:
        """Create and update orders over time, notifying subscribers; `on_step(action, order)`
        hears of each change. One generator per shop: starting another replaces it."""
        self.stop_generator(shop)
        generator = OrderGenerator(self.state, shop, interval_seconds, update_ratio, on_step).start()
        self.generators[shop] = generator
        return generator

    def stop_generator(self, shop: str | None = None) -> int:
        """Stop the shop's generator (all of them with None); returns how many stopped."""
        doomed = [s for s in list(self.generators) if shop is None or s == shop]
        for name in doomed:
            self.generators.pop(name).stop()
        return len(doomed)
