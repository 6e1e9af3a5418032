"""Print lines as a redaction boundary would keep them, with the shop's settings."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chatbot.models import Boundary, ShopSettings
from chatbot.review import training_examples_redact


class Command(BaseCommand):
    help = (
        "Read lines on standard input and print each as a boundary keeps it with "
        "the shop's current settings: --store (a customer message before it is "
        "stored), --training (a reviewed message becoming a training example), "
        "--export (CSV export, analytics, API and webhooks; the default)."
    )
    # Tests (and scripts calling call_command) pass the lines as ``stdin=``.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        boundary = parser.add_mutually_exclusive_group()
        for name, what in (
            (Boundary.STORE, "a customer message as it is stored"),
            (Boundary.TRAINING, "a training example"),
            (Boundary.EXPORT, "the CSV export, analytics, API and webhooks"),
        ):
            boundary.add_argument(
                f"--{name}",
                dest="boundary",
                action="store_const",
                const=name,
                help=f"As {what} keeps it.",
            )
        parser.set_defaults(boundary=Boundary.EXPORT)
        parser.add_argument(
            "--rewrite-training-examples",
            action="store_true",
            help="Instead of reading lines: apply the training boundary to the "
            "training examples already taken from chats (after an upgrade, or "
            "after turning a setting on).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rewrite_training_examples"]:
            changed = training_examples_redact()
            self.stdout.write(f"Redacted {changed} training example(s).")
            return
        shop = ShopSettings.load()
        boundary = Boundary(options["boundary"])
        stdin = options.get("stdin") or sys.stdin
        for line in stdin:
            text = line.rstrip("\r\n")
            self.stdout.write(shop.redact(text, boundary=boundary).text)
