from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Write one .tar.gz with a dump of the database, the model artifacts the "
        "registry keeps and a manifest of every file's SHA-256."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", type=Path, help="The archive to write (.tar.gz).")
        parser.add_argument(
            "--no-progress", action="store_true", help="Draw no progress bars."
        )

    def handle(self, *args: Any, out: Path, no_progress: bool, **options: Any) -> None:
        try:
            result = backup_create(out, show_progress=not no_progress)
        except BackupError as error:
            raise CommandError(str(error)) from None
        for reason in result.skipped:
            self.stderr.write(f"left out: {reason}")
        self.stdout.write(
            f"Wrote {result.path}: the database and {len(result.artifacts)} model "
            f"artifacts ({', '.join(result.artifacts) or 'none'})."
        )
