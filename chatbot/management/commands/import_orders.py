"""import_orders: the shop's orders from its own export, for the bot to look up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.management.commands.import_products import import_failed, report_skipped
from chatbot.order_imports import ORDER_FORMATS, orders_import
from recommender.imports.rows import ImportFailed


class Command(BaseCommand):
    help = (
        "Create or update orders, by number, with their items, from a CSV with one "
        "row per line item. --format shopify: Shopify's orders export; --format "
        "woocommerce: the Customer / Order / Coupon Export extension's 'one row per "
        "line item' CSV; --format concierge (the default): number,email,"
        "customer_name,status,refund_status,carrier,tracking_number,eta,placed_at,"
        "delivered_at,total,item_sku,item_name,item_quantity,item_price. Every bad "
        "row is reported with its line and column and nothing is imported, unless "
        "--skip-bad."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=sorted(ORDER_FORMATS),
            default="concierge",
            help="What wrote the file (default: concierge).",
        )
        parser.add_argument(
            "--skip-bad",
            action="store_true",
            help="Import the good orders of a file with bad rows, and list the bad.",
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
            report = orders_import(
                path,
                file_format=file_format,
                skip_bad=skip_bad,
                show_progress=options["verbosity"] > 0,
            )
        except ImportFailed as error:
            raise import_failed(error) from None
        report_skipped(self, path, report)
        skipped = f"; {len(report.errors)} bad rows skipped" if report.errors else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.written} orders ({report.created} new, "
                f"{report.updated} updated){skipped}."
            )
        )
