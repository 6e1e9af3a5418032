"""Writes to the catalog."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.db import transaction

from recommender.models import Interaction, Product

DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.jsonl"


class ProductImportError(ValueError):
    """A row of an import file is malformed; the message names the line."""


def products_import_jsonl(path: Path) -> int:
    """Create or update products from a JSONL file; all rows or none.

    Returns:
        The number of products written.
    """
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            rows.append(
                {
                    "sku": str(row["sku"]),
                    "name": str(row["name"]),
                    "description": str(row.get("description", "")),
                    "category": str(row["category"]),
                    "brand": str(row.get("brand", "")),
                    "price": Decimal(str(row["price"])),
                    "currency": str(row.get("currency", "USD")),
                    "stock": int(row.get("stock", 0)),
                    "image": str(
                        row.get("image")
                        or f"/static/recommender/products/{row['sku']}.svg"
                    ),
                    "url": str(row.get("url") or f"/products/{row['sku']}/"),
                }
            )
        except (ValueError, KeyError, TypeError, InvalidOperation) as error:
            raise ProductImportError(f"{path}:{number}: {error!r}") from None
    with transaction.atomic():
        # update_or_create sends post_save, which queues the embeddings (one batch).
        for row in rows:
            Product.objects.update_or_create(sku=row.pop("sku"), defaults=row)
    return len(rows)


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
