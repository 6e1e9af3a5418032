"""A reference shop order endpoint, as docs/order-lookup.md describes it.

A real HTTP server (stdlib ``http.server`` in a thread) that a shop's developer can
read as an example: it verifies Concierge's signature over the raw body, refuses
stale timestamps, answers ``POST /lookup`` with the order only when the email or
the shopper id on it is the customer's (404 otherwise, the same for both), and
takes ``POST /cancel`` and ``POST /return`` once per ``request_id``.

Tests turn it slow (``delay``) or broken (``fail_with``) to see what the bot says.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_SECONDS = 5 * 60
BASE_PATH = "/orders"  # the endpoint's base URL ends here; /lookup… follow


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """Whether a request comes from Concierge, and is recent (as for webhooks)."""
    timestamp = headers.get("X-Concierge-Timestamp", "")
    given = headers.get("X-Concierge-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + digest, given)


@dataclass
class Shop:
    """The shop's side: its orders and how its endpoint behaves right now."""

    secret: str
    # Order number → the order as the API's order JSON (docs/api.md).
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow shop)
    fail_with: int | None = None  # answer every call with this status (500…)
    # What /cancel and /return do: "done" at once, "sent" (202, later), "refuse".
    action: str = "done"
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    signed: list[tuple[Any, bytes]] = field(default_factory=list)  # headers, body
    unsigned: int = 0  # requests refused for a bad or missing signature
    changes: dict[str, str] = field(default_factory=dict)  # request_id → number

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [body for called, body in self.requests if called == path]

    def owned(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The order asked for, if the email or the shopper on it is theirs."""
        number = str(payload.get("number") or "").upper()
        order = next((o for n, o in self.orders.items() if n.upper() == number), None)
        if order is None:
            return None
        email = (payload.get("email") or "").lower()
        shopper = payload.get("shopper_id") or ""
        if (email and order["email"].lower() == email) or (
            shopper and order.get("shopper_id") == shopper
        ):
            return order
        return None  # wrong email: the same answer as no such order

    def answer(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        order = self.owned(payload)
        if order is None:
            return 404, {"error": "order_not_found"}
        if path == "/lookup":
            return 200, {"order": order}
        if path not in ("/cancel", "/return"):
            return 404, {"error": "no_such_endpoint"}
        if self.action == "refuse":
            return 409, {"error": "not_possible", "reason": "it has already shipped"}
        if self.action == "sent":
            return 202, {"result": "sent"}
        # Once per request_id: a retry of the same request changes nothing again.
        if payload["request_id"] not in self.changes:
            self.changes[payload["request_id"]] = order["number"]
            if path == "/cancel":
                order["status"] = "cancelled"
        return 200, {"result": "done", "order": order}


class Handler(BaseHTTPRequestHandler):
    server: ShopHTTPServer

    def do_POST(self) -> None:
        shop = self.server.shop
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if shop.delay:
            time.sleep(shop.delay)
        if not verify(shop.secret, self.headers, body):
            shop.unsigned += 1
            return self.reply(401, {"error": "bad_signature"})
        payload = json.loads(body)
        shop.signed.append((self.headers, body))
        path = self.path.removeprefix(BASE_PATH)
        shop.requests.append((path, payload))
        if shop.fail_with is not None:
            return self.reply(shop.fail_with, {"error": "internal"})
        self.reply(*shop.answer(path, payload))

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the caller gave up (timed out) before the answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ShopHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a slow answer still sleeping must not hold up a test

    def __init__(self, shop: Shop) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.shop = shop


@contextmanager
def running(shop: Shop) -> Iterator[str]:
    """Serve ``shop`` on a free local port; yields its base URL."""
    server = ShopHTTPServer(shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    finally:
        server.shutdown()
        server.server_close()
