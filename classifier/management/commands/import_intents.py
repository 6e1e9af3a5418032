from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier import datasets
from classifier.models import TrainingExample
from classifier.services import examples_import


class Command(BaseCommand):
    help = "Import intents and examples from CSV (text,intent) or YAML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--source",
            choices=[TrainingExample.Source.SEED, TrainingExample.Source.IMPORT],
            default=TrainingExample.Source.IMPORT,
        )
        parser.add_argument(
            "--golden",
            action="store_true",
            help="Add the examples to the golden set: every candidate model is "
            "measured on them, none trains on them.",
        )

    def handle(
        self, *args: Any, path: Path, source: str, golden: bool, **options: Any
    ) -> None:
        try:
            intent_set = datasets.read(path)
        except datasets.DatasetError as error:
            raise CommandError(str(error)) from None
        result = examples_import(intent_set=intent_set, source=source, golden=golden)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created} {'golden ' if golden else ''}examples "
                f"({result.skipped} already there), {result.intents_created} new "
                "intents."
            )
        )
