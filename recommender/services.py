"""Writes to the catalog."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.db import transaction

from recommender.models import Interaction, Product

DEMO_CATALOG = Path(__file__).resolve().parent / "demo" / "catalog.jsonl"


class ProductImportError(ValueError):
    """A row of an import file is malformed; the message names the file and line."""


class BadAttribute(ValueError):
    """An attribute column holds something it can't; the message names the column."""

    def __init__(self, column: str, problem: str) -> None:
        super().__init__(f"column {column!r}: {problem}")


REQUIRED = ("sku", "name", "category", "price")
# Columns (CSV) or keys (JSONL) read into Product.attributes, by the key they fill.
ATTRIBUTE_COLUMNS = {
    "colours": ("colours", "colour", "colors", "color"),
    "sizes": ("sizes", "size"),
    "material": ("material",),
}
# A list in one CSV cell: "red|navy", "red; navy" or "red, navy".
LIST_SEPARATOR = re.compile(r"\s*[|;,]\s*")
LETTER_SIZES = {"XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"}
MAX_ATTRIBUTE_TEXT = 100


def _attribute_list(column: str, value: Any) -> list[str]:
    if isinstance(value, str):
        items: list[Any] = [v for v in LIST_SEPARATOR.split(value.strip()) if v]
    elif isinstance(value, list):
        items = value
    else:
        raise BadAttribute(column, f"expected a list or text, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise BadAttribute(column, f"{item!r} is not a word or a number")
        text = str(item).strip()
        if not text or len(text) > MAX_ATTRIBUTE_TEXT:
            raise BadAttribute(column, f"{item!r} is empty or too long")
        out.append(text)
    return out


def _attributes(row: dict[str, Any]) -> dict[str, Any]:
    """Product.attributes from a row: the ``attributes`` object (JSONL, or JSON text
    in a CSV cell) and the colour, size and material columns; ValueError naming the
    column when a value can't be one."""
    raw = row.get("attributes")
    if isinstance(raw, str) and raw.strip():
        try:
            raw = json.loads(raw)
        except ValueError:
            raise BadAttribute("attributes", "not valid JSON") from None
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise BadAttribute("attributes", "expected a JSON object")
    attributes: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 40:
            raise BadAttribute("attributes", f"bad key {key!r}")
        if isinstance(value, dict):
            raise BadAttribute("attributes", f"{key!r} holds an object")
        attributes[key.strip()] = value
    for key, names in ATTRIBUTE_COLUMNS.items():
        # A column beats the object; either may spell the key another way ("colour").
        columns = [name for name in names if row.get(name) not in (None, "")]
        spelled = [name for name in names if name in attributes]
        value = row[columns[0]] if columns else None
        for name in spelled:
            value = attributes.pop(name) if value is None else value
            attributes.pop(name, None)
        if value is not None:
            attributes[key] = value
    if "colours" in attributes:
        attributes["colours"] = [
            c.lower() for c in _attribute_list("colours", attributes["colours"])
        ]
    if "sizes" in attributes:
        attributes["sizes"] = [
            s.upper() if s.upper() in LETTER_SIZES else s
            for s in _attribute_list("sizes", attributes["sizes"])
        ]
    if "material" in attributes:
        material = attributes["material"]
        if not isinstance(material, str) or len(material) > MAX_ATTRIBUTE_TEXT:
            raise BadAttribute("material", f"expected a short text, got {material!r}")
        attributes["material"] = material.strip().lower()
    for key, value in attributes.items():
        if isinstance(value, list):
            _attribute_list(key, value)
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise BadAttribute(key, f"{value!r} is not a value")
    return {k: v for k, v in attributes.items() if v not in (None, "", [])}


def _product_row(row: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in REQUIRED if not str(row.get(key) or "").strip()]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    sku = str(row["sku"]).strip()
    try:
        price = Decimal(str(row["price"]).strip().lstrip("$"))
    except InvalidOperation:
        raise ValueError(f"column 'price': {row['price']!r} is not a price") from None
    if not price.is_finite():
        raise ValueError(f"column 'price': {price} is not a price")
    if price < 0:
        raise ValueError(f"negative price {price} in column 'price'")
    try:
        stock = int(str(row.get("stock") or 0))
    except ValueError:
        raise ValueError(f"column 'stock': {row['stock']!r} is not a count") from None
    if stock < 0:
        raise ValueError(f"negative stock {stock} in column 'stock'")
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
        "attributes": _attributes(row),
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
