"""What Concierge sends the shop over HTTP: webhooks (``api.webhooks``) and calls to
the shop's order endpoint (``chatbot.shop_orders``). One signature scheme for both,
so a shop verifies them with the same few lines (docs/webhooks.md), and redirects
are never followed."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from typing import Any


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent, and signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, under ``secret``, of ``timestamp.body``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer to log, not to follow: following it would POST the
    # body (again) to an address the shop's settings never named.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


opener = urllib.request.build_opener(_NoRedirects)
