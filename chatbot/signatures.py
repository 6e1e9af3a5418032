"""HMAC signatures on what Concierge sends the shop: webhooks (``api.webhooks``) and
calls to the shop's order endpoint (``chatbot.shop_orders``), one scheme for both,
so a shop verifies them with the same few lines (docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any


def body_bytes(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent, and signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, under ``secret``, of ``timestamp.body``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
