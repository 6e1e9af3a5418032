"""Print the widget's script tag signed for one shopper: what the shop's server
makes for a logged-in shopper, for trying identity out (docs/identity.md)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot import identity


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
            tag = identity.script_tag(
                server=options["server"], secret=secret, timestamp=timestamp, **values
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(tag)
        self.stderr.write(
            f"Valid for {settings.SHOP_IDENTITY_MAX_AGE} s from {timestamp}. "
            f"Signed: {identity.signed_string(timestamp=timestamp, **values)!r}"
        )
