"""Concierge's own catalog files: CSV (header: sku,name,description,category,brand,
price,currency,stock,image,url,active, optionally colours,sizes,material and
attributes, a JSON object) or JSONL with the same keys, chosen by the extension."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from recommender.imports.attributes import attributes_of
from recommender.imports.rows import BadCell, Parsed, RowError, csv_rows, read_text

REQUIRED = ("sku", "name", "category", "price")


def _product(row: dict[str, Any]) -> dict[str, Any]:
    missing = [key for key in REQUIRED if not str(row.get(key) or "").strip()]
    if missing:
        raise BadCell(None, f"missing {', '.join(missing)}")
    sku = str(row["sku"]).strip()
    try:
        price = Decimal(str(row["price"]).strip().lstrip("$"))
    except InvalidOperation:
        raise BadCell("price", f"{row['price']!r} is not a price") from None
    if not price.is_finite():
        raise BadCell("price", f"{price} is not a price")
    if price < 0:
        raise BadCell(None, f"negative price {price} in column 'price'")
    try:
        stock = int(str(row.get("stock") or 0))
    except ValueError:
        raise BadCell("stock", f"{row['stock']!r} is not a count") from None
    if stock < 0:
        raise BadCell(None, f"negative stock {stock} in column 'stock'")
    active = str(row.get("active", "true")).strip().lower() not in ("0", "false", "no")
    return {
        "sku": sku,
        "name": str(row["name"]).strip(),
        "description": str(row.get("description") or ""),
        "category": str(row["category"]).strip(),
        "brand": str(row.get("brand") or ""),
        "price": price,
        # Empty: the shop's currency, filled in by products_import.
        "currency": str(row.get("currency") or "").upper()[:3] or None,
        "stock": stock,
        "image": str(row.get("image") or f"/static/recommender/products/{sku}.svg"),
        "url": str(row.get("url") or f"/products/{sku}/"),
        "active": active,
        "attributes": attributes_of(row),
    }


def _jsonl_rows(path: Path, parsed: Parsed[Any]) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            parsed.errors.append(RowError(number, "not valid JSON"))
            continue
        if not isinstance(row, dict):
            parsed.errors.append(RowError(number, "not a JSON object"))
            continue
        rows.append((number, row))
    return rows


def read_products(path: Path) -> Parsed[dict[str, Any]]:
    """The products of a Concierge CSV or JSONL file (by extension)."""
    parsed: Parsed[dict[str, Any]] = Parsed()
    if path.suffix.lower() == ".csv":
        rows: list[tuple[int, dict[str, Any]]] = list(
            csv_rows(path, required=REQUIRED, errors=parsed.errors)
        )
    else:
        rows = _jsonl_rows(path, parsed)
    for number, row in rows:
        try:
            parsed.records.append(_product(row))
        except BadCell as error:
            parsed.errors.append(RowError(number, error.problem, error.column))
        except (ValueError, TypeError) as error:
            parsed.errors.append(RowError(number, str(error)))
    parsed.errors.sort(key=lambda error: error.line)
    return parsed
