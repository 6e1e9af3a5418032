"""import_products: the catalog from a file, in our format or as a shop exports it.

It lives in chatbot, not recommender, because a product without a currency is
priced in the shop's (ShopSettings), which only chatbot may read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.models import ShopSettings
from recommender.imports.rows import ImportFailed, ImportReport
from recommender.services import PRODUCT_FORMATS, products_import


def report_skipped(command: BaseCommand, path: Path, report: ImportReport) -> None:
    """Write the rows an import left out (--skip-bad) to stderr, one a line."""
    for error in report.errors:
        command.stderr.write(f"skipped: {error.describe(path)}")


def import_failed(error: ImportFailed) -> CommandError:
    return CommandError(
        f"{error}\nNothing was imported: fix these rows, or pass --skip-bad to "
        "import the others."
    )


class Command(BaseCommand):
    help = (
        "Create or update products, by sku, from a file. --format concierge (the "
        "default): CSV (header: sku,name,description,category,brand,price,currency,"
        "stock,image,url,active, and optionally colours,sizes,material — lists "
        "separated by | ; or , — and attributes, a JSON object) or JSONL (the same "
        "keys). --format shopify: Shopify's product CSV export; --format "
        "woocommerce: WooCommerce's (variants become one product with its sizes and "
        "colours). Every bad row is reported with its line and column and nothing "
        "is imported, unless --skip-bad. Embeddings follow in the background."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=sorted(PRODUCT_FORMATS),
            default="concierge",
            help="What wrote the file (default: concierge).",
        )
        parser.add_argument(
            "--skip-bad",
            action="store_true",
            help="Import the good rows of a file with bad ones, and list the bad.",
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
            report = products_import(
                path,
                file_format=file_format,
                currency=ShopSettings.load().currency,
                skip_bad=skip_bad,
                show_progress=options["verbosity"] > 0,
            )
        except ImportFailed as error:
            raise import_failed(error) from None
        report_skipped(self, path, report)
        skipped = f"; {len(report.errors)} bad rows skipped" if report.errors else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.written} products ({report.created} new, "
                f"{report.updated} updated){skipped}."
            )
        )
