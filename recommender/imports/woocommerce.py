"""WooCommerce's product CSV (WooCommerce docs: "Product CSV Import Schema", what
Products → Export writes), read into one Product per WooCommerce product.

A ``simple``, ``variable`` or ``external`` row is a product; a ``variation`` row is
one variant of the product its ``Parent`` names (``id:123`` or the parent's SKU).
``Attribute N name`` / ``Attribute N value(s)`` give the options (the parent lists
them all, "S, M, L"; a variation holds its one value); Color / Colour and Size fill
``colours`` and ``sizes``. ``grouped`` rows are left out: a grouped product has no
price or stock of its own, and the products in it are rows of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

REQUIRED = ("Type", "SKU", "Name")
PRODUCT_TYPES = {"simple", "variable", "external"}
# 1 published, 0 private, -1 draft: only what is published is offered in the chat.
PUBLISHED = {"1": True, "": True, "0": False, "-1": False}
# "In stock?" when the shop doesn't count the stock: 1, 0, or "backorder".
IN_STOCK = {"1": True, "0": False, "": False, "backorder": True, "onbackorder": True}
# "Backorders allowed?": 0 (no), 1 (yes), "notify" (yes, telling the customer).
BACKORDERS = {"1", "notify"}
# WooCommerce puts every product without a category into this one.
DEFAULT_CATEGORY = "Uncategorized"


@dataclass
class _Product:
    line: int
    row: dict[str, str]
    variations: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def _kind(row: dict[str, str]) -> str:
    """ "variation", "grouped" or "product" (a row may say "simple, virtual")."""
    types = {t.lower() for t in split_list(cell(row, "Type"))}
    if "variation" in types:
        return "variation"
    if "grouped" in types:
        return "grouped"
    if types & PRODUCT_TYPES:
        return "product"
    raise BadCell(
        "Type",
        f"{cell(row, 'Type')!r} is not simple, variable, grouped, external or "
        "variation",
    )


def _price(row: dict[str, str]) -> Decimal | None:
    regular, sale = price(row, "Regular price"), price(row, "Sale price")
    if sale is not None and (regular is None or sale < regular):
        return sale
    return regular


def _stock(row: dict[str, str]) -> int:
    quantity = count(row, "Stock", negative_as_zero=True)
    if quantity == 0 and cell(row, "Backorders allowed?") in BACKORDERS:
        return 1  # sold on when out of stock: still for sale
    if quantity is not None:
        return quantity
    # Stock not managed: "In stock?" alone says whether it sells; count it as one.
    in_stock = cell(row, "In stock?").lower()
    if in_stock not in IN_STOCK:
        raise BadCell("In stock?", f"{in_stock!r} is not 1, 0 or backorder")
    return int(IN_STOCK[in_stock])


def _options(row: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    n = 1
    while f"Attribute {n} name" in row:
        name, values = (
            cell(row, f"Attribute {n} name"),
            cell(row, f"Attribute {n} value(s)"),
        )
        if values and not name:
            raise BadCell(f"Attribute {n} name", f"missing for values {values!r}")
        if name and values:
            found.setdefault(attribute_key(name), []).extend(split_list(values))
        n += 1
    return found


def _product(item: _Product) -> dict[str, Any]:
    row = item.row
    try:
        sku = text(row, "SKU", max_length=64) or (
            f"woo-{cell(row, 'ID')}" if cell(row, "ID") else ""
        )
        if not sku:
            raise BadCell("SKU", "missing, and no ID either")
        published = cell(row, "Published")
        if published not in PUBLISHED:
            raise BadCell("Published", f"{published!r} is not 1, 0 or -1")
        categories = split_list(cell(row, "Categories"))
        category = categories[0].split(">")[-1].strip() if categories else ""
        if len(category) > 100:
            raise BadCell("Categories", "longer than 100 characters")
        images = split_list(cell(row, "Images"))
        if images and len(images[0]) > 300:
            raise BadCell("Images", "longer than 300 characters")
        product: dict[str, Any] = {
            "sku": sku,
            "name": text(row, "Name", max_length=200, required=True),
            "description": html_text(
                cell(row, "Description") or cell(row, "Short description")
            ),
            "category": category or DEFAULT_CATEGORY,
            "brand": text(row, "Brands", max_length=100),
            "currency": None,
            "image": images[0] if images else "",
            "url": "",
            "active": PUBLISHED[published],
        }
        options = _options(row)
        own_price, own_stock = _price(row), _stock(row)
    except BadCell as error:
        raise BadRow(item.line, error) from None
    prices, stock = [], 0
    for line, variation in item.variations:
        try:
            variation_price = _price(variation)
            if variation_price is None:
                raise BadCell("Regular price", "missing: every variation has a price")
            prices.append(variation_price)
            stock += _stock(variation)
            for key, values in _options(variation).items():
                options.setdefault(key, []).extend(values)
        except BadCell as error:
            raise BadRow(line, error) from None
    if not prices:
        if own_price is None:
            raise BadRow(
                item.line, BadCell("Regular price", "missing: the product has no price")
            )
        prices, stock = [own_price], own_stock
    try:
        tags = split_list(cell(row, "Tags"))
        product["attributes"] = variant_attributes(options, tags=tags)
    except BadCell as error:
        raise BadRow(item.line, error) from None
    return {**product, "price": min(prices), "stock": stock}


def read_products(path: Path) -> Parsed[dict[str, Any]]:
    """The products of a WooCommerce product CSV export."""
    parsed: Parsed[dict[str, Any]] = Parsed()
    products: list[_Product] = []
    # A variation names its parent as "id:<ID>" or by the parent's SKU.
    parents: dict[str, _Product] = {}
    variations: list[tuple[int, dict[str, str]]] = []
    for line, row in csv_rows(path, required=REQUIRED, errors=parsed.errors):
        try:
            kind = _kind(row)
        except BadCell as error:
            parsed.errors.append(RowError(line, error.problem, error.column))
            continue
        if kind == "variation":
            variations.append((line, row))
        elif kind == "product":
            item = _Product(line, row)
            products.append(item)
            if cell(row, "ID"):
                parents[f"id:{cell(row, 'ID')}"] = item
            if cell(row, "SKU"):
                parents[cell(row, "SKU")] = item
    for line, row in variations:
        parent = parents.get(cell(row, "Parent"))
        if parent is None:
            problem = f"no product {cell(row, 'Parent')!r} in this file"
            parsed.errors.append(RowError(line, problem, "Parent"))
            continue
        parent.variations.append((line, row))
    for item in products:
        try:
            parsed.records.append(_product(item))
        except BadRow as error:
            parsed.errors.append(error.error)
    parsed.errors.sort(key=lambda error: error.line)
    return parsed
