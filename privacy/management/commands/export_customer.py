"""``manage.py export_customer (--customer ID | --email E) --out DIR``: an access
request. Writes data.json (every row) and transcript.html into DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.export import subject_export
from privacy.management.options import add_subject_arguments, by_name
from privacy.models import DataSubjectRequest
from privacy.subjects import SubjectError


class Command(BaseCommand):
    help = (
        "Export everything held about a customer (by id) or an email address, "
        "as data.json and a readable transcript.html, for an access request."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_subject_arguments(parser)
        parser.add_argument(
            "--out", required=True, type=Path, help="The folder to write into."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        if out.exists() and not out.is_dir():
            raise CommandError(f"{out} is not a folder.")
        for name in ("data.json", "transcript.html"):
            if (out / name).exists():
                raise CommandError(f"{out / name} exists; give an empty folder.")
        try:
            export = subject_export(
                customer_id=options["customer"],
                email=options["email"],
                by_name=by_name(options),
                via=DataSubjectRequest.Via.COMMAND,
            )
        except SubjectError as error:
            raise CommandError(str(error)) from error
        out.mkdir(parents=True, exist_ok=True)
        (out / "data.json").write_text(export.json_text(), encoding="utf-8")
        (out / "transcript.html").write_text(export.html, encoding="utf-8")
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {export.record.total} rows to {out} "
                f"(recorded as request #{export.record.pk})."
            )
        )
