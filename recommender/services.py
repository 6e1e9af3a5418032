"""Writes to the catalog."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import transaction
from tqdm import tqdm

from recommender.imports import concierge, shopify, woocommerce
from recommender.imports.rows import ImportFailed, ImportReport, Parsed, set_fields
from recommender.models import Interaction, Product

DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.jsonl"


# The product file formats import_products reads, by their --format name.
PRODUCT_FORMATS: dict[str, Callable[[Path], Parsed[dict[str, Any]]]] = {
    "concierge": concierge.read_products,
    "shopify": shopify.read_products,
    "woocommerce": woocommerce.read_products,
}


def products_import(
    path: Path,
    *,
    file_format: str = "concierge",
    currency: str = "USD",
    skip_bad: bool = False,
    show_progress: bool = False,
) -> ImportReport:
    """Create or update products, by sku, from a file in one of PRODUCT_FORMATS.

    Args:
        path: the file.
        file_format: a key of PRODUCT_FORMATS.
        currency: the shop's, for rows (and formats) that name none.
        skip_bad: import the good products of a file with bad rows (reported in
            the result) instead of nothing.
        show_progress: draw a progress bar on stderr.

    Returns:
        How many products were created, updated and already as the file says,
        and the bad rows left out.

    Raises:
        ImportFailed: the file can't be read, or has bad rows and not ``skip_bad``;
            nothing was written.
    """
    parsed = PRODUCT_FORMATS[file_format](path)
    if parsed.errors and not skip_bad:
        raise ImportFailed(path, parsed.errors)
    report = ImportReport(errors=parsed.errors)
    with (
        transaction.atomic(),
        tqdm(
            parsed.records,
            desc="Importing products",
            unit="product",
            file=sys.stderr,
            disable=not show_progress,
        ) as bar,
    ):
        # Only new and changed rows are saved; a save sends post_save, which queues
        # the embeddings after the commit (one batch for the whole import).
        skus = [product["sku"] for product in parsed.records]
        existing = Product.objects.select_for_update().in_bulk(skus, field_name="sku")
        for fields in bar:
            fields = {**fields, "currency": fields["currency"] or currency}
            product = existing.get(fields["sku"]) or Product(sku=fields["sku"])
            new = product._state.adding
            changed = set_fields(product, fields)
            if new or changed:
                product.save()
                existing[product.sku] = product  # the same sku again in the file
            report.count(new=new, changed=changed)
    return report


def interaction_record(
    *, customer_id: int, sku: str, kind: str, conversation_id: int | None = None
) -> bool:
    """Record what a customer did with a product; False for an unknown product."""
    product = Product.objects.filter(sku=sku).only("pk").first()
    if product is None:
        return False
    Interaction.objects.create(
        customer_id=customer_id,
        product=product,
        kind=kind,
        conversation_id=conversation_id,
    )
    return True
