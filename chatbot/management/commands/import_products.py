"""import_products: the catalog from a file, in our format or as a shop exports it.

It lives in chatbot, not recommender, because a product without a currency is
priced in the shop's (ShopSettings), which only chatbot may read.
"""

from __future__ import annotations

from pathlib import Path

from chatbot.management.importing import ImportCommand
from chatbot.models import ShopSettings
from recommender.imports.rows import ImportReport
from recommender.services import PRODUCT_FORMATS, products_import


class Command(ImportCommand):
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
    formats = PRODUCT_FORMATS
    noun = "products"

    def run_import(
        self, path: Path, *, file_format: str, skip_bad: bool, show_progress: bool
    ) -> ImportReport:
        return products_import(
            path,
            file_format=file_format,
            currency=ShopSettings.load().currency,
            skip_bad=skip_bad,
            show_progress=show_progress,
        )
