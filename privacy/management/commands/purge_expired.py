from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from privacy.retention import KINDS, retention_purge


class Command(BaseCommand):
    help = (
        "Delete or anonymise what is older than the shop keeps it (the retention "
        "settings in the admin), in batches; the nightly purge-expired task does "
        "the same. --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would be purged; change nothing.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Rows per transaction (default: RETENTION_BATCH_SIZE).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"] or int(settings.RETENTION_BATCH_SIZE)
        if batch_size < 1:
            self.stderr.write("--batch-size must be at least 1.")
            sys.exit(2)
        dry_run = options["dry_run"]
        counts = retention_purge(
            batch_size=batch_size, dry_run=dry_run, progress=self.progress
        )
        self.stdout.write("")
        width = max(len(kind) for kind in KINDS)
        verb = "would go" if dry_run else "purged"
        self.stdout.write(f"{'kind':<{width}}  {verb:>9}")
        for kind in KINDS:
            self.stdout.write(f"{kind:<{width}}  {counts[kind]:>9}")
        self.stdout.write("Dry run: nothing was changed." if dry_run else "Done.")

    def progress(self, kind: str, rows: int) -> None:
        """One line per kind, rewritten after each batch."""
        if kind != getattr(self, "_kind", kind):
            self.stdout.write("")
        self._kind = kind
        self.stdout.write(f"\r{kind}: {rows} rows", ending="")
        self.stdout.flush()
