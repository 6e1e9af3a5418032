"""Print the widget's script tag signed for one shopper: what the shop's server
makes for a logged-in shopper, for trying identity out (docs/identity.md)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.html import escape

from chatbot import identity


def snippet(*, server: str, fields: dict[str, str]) -> str:
    """The one script tag that embeds the widget with a signed identity."""
    attributes = "".join(
        f'\n  data-shopper-{name}="{escape(value)}"' for name, value in fields.items()
    )
    src = escape(server.rstrip("/") + "/static/chatbot/widget.js")
    return f'<script src="{src}" async{attributes}></script>'


class Command(BaseCommand):
    help = (
        "Sign a shopper's id, email and name with SHOP_IDENTITY_SECRET and print "
        "the widget's script tag carrying them, as the shop's server would."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", required=True, help="The shopper's id in the shop.")
        parser.add_argument("--email", default="", help="The shopper's email.")
        parser.add_argument("--name", default="", help="The shopper's name.")
        parser.add_argument(
            "--server",
            default="http://localhost:8000",
            help="Where Concierge runs (the widget's script is loaded from there).",
        )
        parser.add_argument(
            "--timestamp",
            type=int,
            default=None,
            help="Unix seconds to sign (default: now).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        secret = settings.SHOP_IDENTITY_SECRET
        if not secret:
            raise CommandError("Set SHOP_IDENTITY_SECRET first: nothing is signed")
        timestamp = options["timestamp"] or int(time.time())
        values = {
            "shopper_id": options["id"],
            "email": options["email"],
            "name": options["name"],
        }
        try:
            signature = identity.sign(secret=secret, timestamp=timestamp, **values)
        except ValueError as error:
            raise CommandError(str(error)) from None
        fields = {
            "id": values["shopper_id"],
            "email": values["email"],
            "name": values["name"],
            "timestamp": str(timestamp),
            "signature": signature,
        }
        self.stdout.write(snippet(server=options["server"], fields=fields))
        self.stderr.write(
            f"Valid for {settings.SHOP_IDENTITY_MAX_AGE} s from {timestamp}. "
            f"Signed: {identity.signed_string(timestamp=timestamp, **values)!r}"
        )
