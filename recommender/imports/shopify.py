"""Shopify's product CSV (Shopify Help: "Using CSV files to import and export
products"), read into one Product per Shopify product.

The rows that share a ``Handle`` are one product: the first carries the product
(Title, Body (HTML), Vendor, Type, Tags, Published, Status, the option names) and
each row with a variant (Option1..3 Value, Variant SKU, Variant Price, Variant
Inventory Qty) adds one; rows with only an ``Image Src`` add an image. The product's
sku here is its handle (Shopify's key for it, and its URL); options named Color /
Colour and Size fill ``colours`` and ``sizes``, other options their own key.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from recommender.imports.attributes import attribute_key, variant_attributes
from recommender.imports.rows import (
    BadCell,
    BadRow,
    Parsed,
    RowError,
    cell,
    count,
    csv_rows,
    html_text,
    price,
    split_list,
    text,
)

REQUIRED = ("Handle", "Title", "Variant Price")
OPTIONS = (1, 2, 3)
# A product without options has one variant, "Title: Default Title".
NO_OPTION = ("title", "default title")
VARIANT_COLUMNS = (
    "Variant SKU",
    "Variant Price",
    *(f"Option{n} Value" for n in OPTIONS),
)
PUBLISHED = {"true": True, "false": False, "": True}
STATUSES = {"active": True, "draft": False, "archived": False, "unlisted": True}


def _active(row: dict[str, str]) -> bool:
    status = cell(row, "Status").lower()
    if status:
        if status not in STATUSES:
            raise BadCell("Status", f"{status!r} is not active, draft or archived")
        return STATUSES[status]
    published = cell(row, "Published").lower()
    if published not in PUBLISHED:
        raise BadCell("Published", f"{published!r} is not TRUE or FALSE")
    return PUBLISHED[published]


def _category(row: dict[str, str]) -> str:
    # Type is the shop's own word for it ("Rain jackets"); the standard Product
    # Category is a path ("Apparel & Accessories > Clothing > Outerwear").
    found = cell(row, "Type") or cell(row, "Product Category").split(">")[-1].strip()
    if not found:
        raise BadCell("Type", "missing (and no Product Category either)")
    if len(found) > 100:
        raise BadCell("Type", "longer than 100 characters")
    return found


def _product(handle: str, rows: list[tuple[int, dict[str, str]]]) -> dict[str, Any]:
    """The product of one handle's rows; RowError (as BadCell + line) on a bad one."""
    first_line, first = rows[0]
    if len(handle) > 64:
        raise BadRow(first_line, BadCell("Handle", "longer than 64 characters"))
    try:
        name = text(first, "Title", max_length=200, required=True)
        product: dict[str, Any] = {
            "sku": handle,
            "name": name,
            "description": html_text(cell(first, "Body (HTML)")),
            "category": _category(first),
            "brand": text(first, "Vendor", max_length=100),
            "currency": None,
            "url": f"/products/{handle}",
            "active": _active(first),
        }
        option_names = {n: cell(first, f"Option{n} Name") for n in OPTIONS}
        tags = split_list(cell(first, "Tags"))
    except BadCell as error:
        raise BadRow(first_line, error) from None
    images: list[str] = []
    prices: list[Decimal] = []
    stock = 0
    options: dict[str, list[str]] = {}
    for line, row in rows:
        try:
            if image := cell(row, "Image Src") or cell(row, "Variant Image"):
                images.append(image)
            if not any(cell(row, column) for column in VARIANT_COLUMNS):
                continue  # an image row
            variant_price = price(row, "Variant Price")
            if variant_price is None:
                raise BadCell("Variant Price", "missing: every variant has a price")
            prices.append(variant_price)
            quantity = count(row, "Variant Inventory Qty", negative_as_zero=True)
            if quantity is None:
                # Not counted by Shopify (no inventory tracker), or counted per
                # location (a shop with several has no Variant Inventory Qty
                # column): for sale, as far as this file tells.
                tracked = cell(row, "Variant Inventory Tracker")
                counted = "Variant Inventory Qty" in row
                quantity = 0 if tracked and counted else 1
            if not quantity and cell(row, "Variant Inventory Policy") == "continue":
                quantity = 1  # sold on when out of stock: still for sale
            stock += quantity
            for n in OPTIONS:
                option, value = option_names[n], cell(row, f"Option{n} Value")
                if value and (option.lower(), value.lower()) != NO_OPTION:
                    if not option:
                        raise BadCell(f"Option{n} Name", f"missing for value {value!r}")
                    options.setdefault(attribute_key(option), []).append(value)
        except BadCell as error:
            raise BadRow(line, error) from None
    if not prices:
        raise BadRow(
            first_line, BadCell("Variant Price", "missing: no variant has a price")
        )
    try:
        product["attributes"] = variant_attributes(options, tags=tags)
    except BadCell as error:
        raise BadRow(first_line, error) from None
    image = images[0] if images else ""
    if len(image) > 300:
        raise BadRow(first_line, BadCell("Image Src", "longer than 300 characters"))
    return {**product, "price": min(prices), "stock": stock, "image": image}


def read_products(path: Path) -> Parsed[dict[str, Any]]:
    """The products of a Shopify product CSV export."""
    parsed: Parsed[dict[str, Any]] = Parsed()
    handles: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in csv_rows(path, required=REQUIRED, errors=parsed.errors):
        handle = cell(row, "Handle")
        if not handle:
            parsed.errors.append(RowError(line, "missing", "Handle"))
            continue
        handles.setdefault(handle, []).append((line, row))
    for handle, rows in handles.items():
        try:
            parsed.records.append(_product(handle, rows))
        except BadRow as bad:
            parsed.errors.append(bad.error)
    parsed.errors.sort(key=lambda error: error.line)
    return parsed
