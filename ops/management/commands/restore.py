from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup written by `manage.py backup`. Every file's hash is checked "
        "before anything changes; the database must have no tables unless --force "
        "is given. Stop the web, worker and beat processes first and start them "
        "after: they keep models and connections of the old database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="The backup (.tar.gz).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace a database that has tables: its schema 'public' is "
            "dropped and recreated in the restore's transaction.",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Draw no progress bars."
        )

    def handle(
        self,
        *args: Any,
        archive: Path,
        force: bool,
        no_progress: bool,
        **options: Any,
    ) -> None:
        try:
            result = backup_restore(archive, force=force, show_progress=not no_progress)
        except BackupError as error:
            raise CommandError(str(error)) from None
        replaced = " (the old schema was dropped)" if result.dropped_schema else ""
        self.stdout.write(
            f"Restored {result.tables} tables{replaced} and "
            f"{len(result.artifacts)} model artifacts "
            f"({', '.join(result.artifacts) or 'none'}) from {archive}. Start the "
            "web, worker and beat processes again."
        )
