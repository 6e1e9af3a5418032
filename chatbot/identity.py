"""Verified shopper identity: the shop vouches for a logged-in shopper.

The shop's server signs the shopper's id, email and name with the installation's
``SHOP_IDENTITY_SECRET`` (HMAC-SHA256) and a timestamp; the page hands them to the
widget, the widget to the ``hello`` frame, and the consumer checks them here. The
string signed is the four values joined by newlines (docs/identity.md)::

    <timestamp>\\n<id>\\n<email>\\n<name>

No value may hold a newline, so every accepted string splits one way only: a
signature over one shopper can't be read as a signature over another.

An identity not signed, signed with another secret, for other values, or signed
longer ago than ``SHOP_IDENTITY_MAX_AGE`` is refused: it is never trusted, and the
conversation goes on as an anonymous visitor's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.html import escape

# A shop server's clock may run a little ahead of ours.
CLOCK_SKEW_SECONDS = 300
MAX_ID_LENGTH = 255
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
TIMESTAMP = re.compile(r"\d{1,12}")
SIGNATURE = re.compile(r"[0-9a-f]{64}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True)
class Identity:
    """A shopper as the shop signed them (email lower-cased once verified)."""

    shopper_id: str
    email: str
    name: str
    timestamp: int


@dataclass(frozen=True)
class Verification:
    """What came of an identity a hello carried.

    ``identity``: set when the signature matched, even if it is too old (a device
    that was linked with it may carry on); ``error``: why it is not trusted now,
    empty when it is (``not_configured``, ``missing_fields``, ``invalid_field``,
    ``bad_signature``, ``expired``).
    """

    identity: Identity | None
    error: str = ""

    @property
    def verified(self) -> bool:
        return self.identity is not None and not self.error


def signed_string(*, timestamp: int, shopper_id: str, email: str, name: str) -> str:
    """The exact text the shop signs (see docs/identity.md)."""
    return "\n".join([str(timestamp), shopper_id, email, name])


def sign(
    *, secret: str, timestamp: int, shopper_id: str, email: str = "", name: str = ""
) -> str:
    """The hex HMAC-SHA256 of the identity, as the shop's server makes it."""
    for value in (shopper_id, email, name):
        if "\n" in value or "\r" in value:
            raise ValueError("identity values can't hold line breaks")
    text = signed_string(
        timestamp=timestamp, shopper_id=shopper_id, email=email, name=name
    )
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _text(fields: dict[str, Any], key: str, *, max_length: int) -> str | None:
    value = fields.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > max_length:
        return None
    if "\n" in value or "\r" in value:
        return None
    return value


def verify(fields: Any, *, now: float | None = None) -> Verification:
    """Check an identity as the widget sends it: ``id``, ``email``, ``name``,
    ``timestamp`` (Unix seconds, a number or its digits) and ``signature`` (hex).

    ``email`` and ``name`` may be left out (then they were signed as empty); the
    others are required.
    """
    secret = settings.SHOP_IDENTITY_SECRET
    if not secret:
        return Verification(None, "not_configured")
    if not isinstance(fields, dict) or not all(
        fields.get(key) not in (None, "") for key in ("id", "timestamp", "signature")
    ):
        return Verification(None, "missing_fields")
    shopper_id = _text(fields, "id", max_length=MAX_ID_LENGTH)
    email = _text(fields, "email", max_length=MAX_EMAIL_LENGTH)
    name = _text(fields, "name", max_length=MAX_NAME_LENGTH)
    raw_timestamp, signature = fields["timestamp"], fields["signature"]
    if isinstance(raw_timestamp, int) and not isinstance(raw_timestamp, bool):
        raw_timestamp = str(raw_timestamp)
    if (
        shopper_id is None
        or email is None
        or name is None
        or not isinstance(raw_timestamp, str)
        or not TIMESTAMP.fullmatch(raw_timestamp)
        or not isinstance(signature, str)
        or not SIGNATURE.fullmatch(signature.lower())
    ):
        return Verification(None, "invalid_field")
    timestamp = int(raw_timestamp)
    expected = sign(
        secret=secret,
        timestamp=timestamp,
        shopper_id=shopper_id,
        email=email,
        name=name,
    )
    # Constant time: how much of a guess matched must not show in the timing.
    if not hmac.compare_digest(expected, signature.lower()):
        return Verification(None, "bad_signature")
    if email and not EMAIL.fullmatch(email):
        # Signed, but not an address orders could be found by. (Loosely checked:
        # the shop knows its shoppers' addresses better than any pattern.)
        return Verification(None, "invalid_field")
    identity = Identity(
        shopper_id=shopper_id,
        email=email.lower(),
        name=name.strip(),
        timestamp=timestamp,
    )
    age = (time.time() if now is None else now) - timestamp
    if age > settings.SHOP_IDENTITY_MAX_AGE or age < -CLOCK_SKEW_SECONDS:
        return Verification(identity, "expired")
    return Verification(identity)


def script_tag(
    *,
    server: str,
    secret: str,
    timestamp: int,
    shopper_id: str,
    email: str = "",
    name: str = "",
) -> str:
    """The one script tag that embeds the widget for a signed-in shopper, as the
    shop's server renders it (``manage.py sign_identity`` prints one)."""
    fields = {
        "id": shopper_id,
        "email": email,
        "name": name,
        "timestamp": str(timestamp),
        "signature": sign(
            secret=secret,
            timestamp=timestamp,
            shopper_id=shopper_id,
            email=email,
            name=name,
        ),
    }
    attributes = "".join(
        f'\n  data-shopper-{key}="{escape(value)}"' for key, value in fields.items()
    )
    src = escape(server.rstrip("/") + "/static/chatbot/widget.js")
    return f'<script src="{src}" async{attributes}></script>'
