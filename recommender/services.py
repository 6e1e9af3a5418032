"""Writes to the catalog."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from recommender.models import Interaction, Product

DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.jsonl"


class ProductImportError(ValueError):
    """A row of an import file is malformed; the message names the file and line."""


REQUIRED = ("sku", "name", "category", "price")


def _product_row(row: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in REQUIRED if not str(row.get(key) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    sku = str(row["sku"]).strip()
    price = Decimal(str(row["price"]).strip().lstrip("$"))
    if price < 0:
        raise ValueError(f"negative price {price}")
    stock = int(str(row.get("stock") or 0))
    if stock < 0:
        raise ValueError(f"negative stock {stock}")
    active = str(row.get("active", "true")).strip().lower() not in ("0", "false", "no")
    return {
        "sku": sku,
        "name": str(row["name"]).strip(),
        "description": str(row.get("description") or ""),
        "category": str(row["category"]).strip(),
        "brand": str(row.get("brand") or ""),
        "price": price,
        "currency": str(row.get("currency") or "USD").upper()[:3],
        "stock": stock,
        "image": str(row.get("image") or f"/static/recommender/products/{sku}.svg"),
        "url": str(row.get("url") or f"/products/{sku}/"),
        "active": active,
    }


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProductImportError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = set(REQUIRED) - set(reader.fieldnames or [])
        if missing:
            raise ProductImportError(f"{path}:1: the header lacks {sorted(missing)}")
        return [(reader.line_num, row) for row in reader]
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                raise ProductImportError(f"{path}:{number}: not valid JSON") from None
            if not isinstance(row, dict):
                raise ProductImportError(f"{path}:{number}: not a JSON object")
            rows.append((number, row))
    return rows


def products_import(path: Path) -> int:
    """Create or update products from CSV or JSONL (by extension); all rows or none.

    Returns:
        The number of products written.
    """
    products = []
    for number, row in _rows(path):
        try:
            products.append(_product_row(row))
        except (ValueError, TypeError, InvalidOperation) as error:
            raise ProductImportError(f"{path}:{number}: {error}") from None
    with transaction.atomic():
        # update_or_create sends post_save, which queues the embeddings (one batch;
        # the task skips products whose text did not change).
        for product in products:
            Product.objects.update_or_create(sku=product.pop("sku"), defaults=product)
    return len(products)


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
