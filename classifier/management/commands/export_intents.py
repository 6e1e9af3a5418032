from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from classifier import datasets
from classifier.services import examples_export


class Command(BaseCommand):
    help = "Export intents and examples as CSV (text,intent) or YAML, by extension."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        intent_set = examples_export()
        datasets.write(path, intent_set)
        self.stdout.write(f"Wrote {len(intent_set.examples)} examples to {path}.")
