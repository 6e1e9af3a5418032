"""import_orders: the shop's orders from its own export, for the bot to look up."""

from __future__ import annotations

from pathlib import Path

from chatbot.management.importing import ImportCommand
from chatbot.order_imports import ORDER_FORMATS, orders_import
from recommender.imports.rows import ImportReport


class Command(ImportCommand):
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
    formats = ORDER_FORMATS
    noun = "orders"

    def run_import(
        self, path: Path, *, file_format: str, skip_bad: bool, show_progress: bool
    ) -> ImportReport:
        return orders_import(
            path,
            file_format=file_format,
            skip_bad=skip_bad,
            show_progress=show_progress,
        )
