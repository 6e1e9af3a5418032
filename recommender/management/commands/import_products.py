from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services import ProductImportError, products_import


class Command(BaseCommand):
    help = (
        "Create or update products from CSV (header: sku,name,description,category,"
        "brand,price,currency,stock,image,url,active, and optionally colours,sizes,"
        "material — lists separated by | ; or , — and attributes, a JSON object) or "
        "JSONL (the same keys; colours and sizes as lists). A bad row is reported "
        "with its line and column and nothing is imported. Embeddings are computed "
        "in the background afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            count = products_import(path)
        except ProductImportError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Imported {count} products."))
