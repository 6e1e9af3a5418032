"""What import_products and import_orders share: --format, --skip-bad, a progress
bar, and the report (every bad row by file, line and column)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.imports.rows import ImportFailed, ImportReport


class ImportCommand(BaseCommand):
    formats: Iterable[str] = ()
    noun = "rows"  # what is imported, for the report: "products", "orders"

    def run_import(
        self, path: Path, *, file_format: str, skip_bad: bool, show_progress: bool
    ) -> ImportReport:
        raise NotImplementedError("An import command says how it imports a file.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=sorted(self.formats),
            default="concierge",
            help="What wrote the file (default: concierge, our own columns).",
        )
        parser.add_argument(
            "--skip-bad",
            action="store_true",
            help=f"Import the good {self.noun} of a file with bad rows, and list "
            "the bad rows.",
        )

    def handle(
        self,
        *args: Any,
        path: Path,
        file_format: str,
        skip_bad: bool,
        **options: Any,
    ) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            report = self.run_import(
                path,
                file_format=file_format,
                skip_bad=skip_bad,
                show_progress=options["verbosity"] > 0,
            )
        except ImportFailed as error:
            raise CommandError(
                f"{error}\nNothing was imported: fix these rows, or pass --skip-bad "
                "to import the others."
            ) from None
        for bad in report.errors:
            self.stderr.write(f"skipped: {bad.describe(path)}")
        skipped = f"; {len(report.errors)} bad rows skipped" if report.errors else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.written} {self.noun} ({report.created} new, "
                f"{report.updated} updated, {report.unchanged} unchanged){skipped}."
            )
        )
