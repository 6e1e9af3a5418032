"""Orders from the file a shop exports, one row per line item, grouped by order
number: Shopify's orders CSV (Orders → Export), WooCommerce's as the "Customer /
Order / Coupon Export" extension writes it ("Default - one row per line item"), or
ours. The row handling and error reporting are the catalog imports'
(``recommender.imports.rows``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from chatbot.models import Order, ShopSettings
from recommender.imports.rows import (
    BadCell,
    BadRow,
    ImportFailed,
    ImportReport,
    Parsed,
    RowError,
    cell,
    count,
    csv_rows,
    price,
    text,
)

Status, Refund = Order.Status, Order.Refund
Rows = list[tuple[int, dict[str, str]]]
# How the exports write a time: Shopify "2026-11-03 14:05:09 +0100"; WooCommerce
# "2026-11-03 14:05:09" (the shop's time zone); ours ISO 8601.
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M")


# --- cells --------------------------------------------------------------------------


def _email(row: dict[str, str], *columns: str) -> str:
    column = next((c for c in columns if cell(row, c)), columns[0])
    value = cell(row, column)
    if not value:
        raise BadCell(column, "missing: the bot finds an order by its email")
    try:
        validate_email(value)
    except ValidationError:
        raise BadCell(column, f"{value!r} is not an email address") from None
    return value


def _datetime(
    row: dict[str, str], column: str, *, tz: tzinfo, required: bool = True
) -> datetime | None:
    raw = cell(row, column)
    if not raw:
        if required:
            raise BadCell(column, "missing")
        return None
    found = None
    for pattern in DATETIME_FORMATS:
        try:
            found = datetime.strptime(raw, pattern)
            break
        except ValueError:
            continue
    if found is None:
        try:
            found = datetime.fromisoformat(raw)
        except ValueError:
            raise BadCell(column, f"{raw!r} is not a date and time") from None
    return found if timezone.is_aware(found) else timezone.make_aware(found, tz)


def _date(row: dict[str, str], column: str) -> date | None:
    raw = cell(row, column)
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise BadCell(column, f"{raw!r} is not a date (2026-12-24)") from None


def _choice(row: dict[str, str], column: str, choices: dict[str, Any]) -> Any:
    value = cell(row, column).lower()
    if value not in choices:
        known = ", ".join(sorted(k for k in choices if k))
        raise BadCell(column, f"{value!r} is not one of {known}")
    return choices[value]


def _item(
    row: dict[str, str], *, name: str, sku: str, quantity: str, unit_price: Decimal
) -> dict[str, Any]:
    amount = count(row, quantity)
    if not amount:
        raise BadCell(quantity, f"{cell(row, quantity)!r} is not a quantity")
    return {
        "sku": text(row, sku, max_length=64),
        "name": text(row, name, max_length=200, required=True),
        "quantity": amount,
        "price": unit_price,
    }


def _grouped(
    rows: Rows, column: str, parsed: Parsed[dict[str, Any]]
) -> dict[str, Rows]:
    """The rows of each order, by its number, in the order they first appear."""
    orders: dict[str, Rows] = {}
    for line, row in rows:
        number = cell(row, column)
        if not number:
            parsed.errors.append(RowError(line, "missing", column))
        elif len(number) > 20:
            parsed.errors.append(RowError(line, "longer than 20 characters", column))
        else:
            orders.setdefault(number, []).append((line, row))
    return orders


def _read(
    path: Path,
    *,
    required: tuple[str, ...],
    number: str,
    order: Callable[[dict[str, str]], dict[str, Any]],
    item: Callable[[dict[str, str]], dict[str, Any] | None],
) -> Parsed[dict[str, Any]]:
    """Group the rows by ``number``; ``order`` reads the order's fields from its
    first row, ``item`` a line item from every row (None: the row has none)."""
    parsed: Parsed[dict[str, Any]] = Parsed()
    rows_read = csv_rows(path, required=required, errors=parsed.errors)
    for key, rows in _grouped(rows_read, number, parsed).items():
        first_line, first = rows[0]
        try:
            try:
                fields = {"number": key, **order(first)}
            except BadCell as error:
                raise BadRow(first_line, error) from None
            items = []
            for line, row in rows:
                try:
                    if (found := item(row)) is not None:
                        items.append(found)
                except BadCell as error:
                    raise BadRow(line, error) from None
        except BadRow as bad:
            parsed.errors.append(bad.error)
            continue
        parsed.records.append({**fields, "items": items})
    parsed.errors.sort(key=lambda error: error.line)
    return parsed


# --- Shopify ------------------------------------------------------------------------

SHOPIFY_REQUIRED = (
    "Name",
    "Email",
    "Financial Status",
    "Fulfillment Status",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
)
SHOPIFY_FINANCIAL = {
    s: s
    for s in (
        "pending",
        "authorized",
        "partially_paid",
        "paid",
        "partially_refunded",
        "refunded",
        "voided",
        "expired",
    )
}
SHOPIFY_FULFILLMENT = {
    "": "unfulfilled",
    "unfulfilled": "unfulfilled",
    "partial": "partial",
    "fulfilled": "fulfilled",
    "restocked": "restocked",
}


def shopify_status(
    financial: str, fulfillment: str, *, cancelled: bool
) -> tuple[str, str]:
    """(Order.Status, Order.Refund) from what Shopify says of an order.

    Shopify's export has no "delivered": fulfilled is as far as it goes (shipped).
    A refunded order that had shipped came back (returned); one that had not was
    cancelled. Paid and not yet shipped is being prepared; not yet paid, placed.
    """
    refund = Refund.REFUNDED if financial == "refunded" else Refund.NONE
    if financial == "refunded":
        shipped = fulfillment in ("fulfilled", "partial")
        return (Status.RETURNED if shipped else Status.CANCELLED), refund
    if cancelled or financial == "voided" or fulfillment == "restocked":
        return Status.CANCELLED, refund
    if fulfillment == "fulfilled":
        return Status.SHIPPED, refund
    if fulfillment == "partial" or financial in ("paid", "partially_refunded"):
        return Status.PROCESSING, refund
    return Status.PLACED, refund


def _shopify_order(row: dict[str, str], *, tz: tzinfo) -> dict[str, Any]:
    status, refund = shopify_status(
        _choice(row, "Financial Status", SHOPIFY_FINANCIAL),
        _choice(row, "Fulfillment Status", SHOPIFY_FULFILLMENT),
        cancelled=bool(cell(row, "Cancelled at")),
    )
    return {
        "email": _email(row, "Email"),
        "customer_name": (cell(row, "Billing Name") or cell(row, "Shipping Name"))[
            :200
        ],
        "status": status,
        "refund_status": refund,
        "placed_at": _datetime(row, "Created at", tz=tz),
        "total": price(row, "Total") or Decimal(0),
        # The export names the shipping rate ("DHL Express"), the nearest it has
        # to a carrier.
        "carrier": cell(row, "Shipping Method")[:50],
    }


def _shopify_item(row: dict[str, str]) -> dict[str, Any] | None:
    if not cell(row, "Lineitem name") and not cell(row, "Lineitem quantity"):
        return None
    return _item(
        row,
        name="Lineitem name",
        sku="Lineitem sku",
        quantity="Lineitem quantity",
        unit_price=price(row, "Lineitem price") or Decimal(0),
    )


def read_shopify(path: Path, *, tz: tzinfo) -> Parsed[dict[str, Any]]:
    return _read(
        path,
        required=SHOPIFY_REQUIRED,
        number="Name",
        order=lambda row: _shopify_order(row, tz=tz),
        item=_shopify_item,
    )


# --- WooCommerce --------------------------------------------------------------------

WOOCOMMERCE_REQUIRED = (
    "order_number",
    "order_date",
    "status",
    "item_name",
    "item_quantity",
)
WOOCOMMERCE_STATUSES = {
    "pending": (Status.PLACED, Refund.NONE),
    "on-hold": (Status.PLACED, Refund.NONE),
    "checkout-draft": (Status.PLACED, Refund.NONE),
    "processing": (Status.PROCESSING, Refund.NONE),
    # WooCommerce calls an order "completed" once it has been sent.
    "completed": (Status.SHIPPED, Refund.NONE),
    "cancelled": (Status.CANCELLED, Refund.NONE),
    "failed": (Status.CANCELLED, Refund.NONE),
    # The export can't tell a refund before shipping from a return: either way
    # the order is off and the money is back.
    "refunded": (Status.CANCELLED, Refund.REFUNDED),
    # Statuses that shipment-tracking plugins add.
    "shipped": (Status.SHIPPED, Refund.NONE),
    "delivered": (Status.DELIVERED, Refund.NONE),
}


def _woocommerce_order(row: dict[str, str], *, tz: tzinfo) -> dict[str, Any]:
    status = cell(row, "status").lower().removeprefix("wc-")
    if status not in WOOCOMMERCE_STATUSES:
        known = ", ".join(WOOCOMMERCE_STATUSES)
        raise BadCell("status", f"{status!r} is not one of {known}")
    name = f"{cell(row, 'billing_first_name')} {cell(row, 'billing_last_name')}"
    return {
        "email": _email(row, "billing_email", "customer_email"),
        "customer_name": name.strip()[:200],
        "status": WOOCOMMERCE_STATUSES[status][0],
        "refund_status": WOOCOMMERCE_STATUSES[status][1],
        "placed_at": _datetime(row, "order_date", tz=tz),
        "total": price(row, "order_total") or Decimal(0),
        "carrier": cell(row, "shipping_method")[:50],
    }


def _woocommerce_item(row: dict[str, str]) -> dict[str, Any] | None:
    if not cell(row, "item_name"):
        return None
    quantity = count(row, "item_quantity") or 1
    # item_total is the line's (after discounts, before tax); the price is per unit.
    line_total = price(row, "item_total") or Decimal(0)
    return _item(
        row,
        name="item_name",
        sku="item_sku",
        quantity="item_quantity",
        unit_price=(line_total / quantity).quantize(Decimal("0.01")),
    )


def read_woocommerce(path: Path, *, tz: tzinfo) -> Parsed[dict[str, Any]]:
    return _read(
        path,
        required=WOOCOMMERCE_REQUIRED,
        number="order_number",
        order=lambda row: _woocommerce_order(row, tz=tz),
        item=_woocommerce_item,
    )


# --- Concierge ----------------------------------------------------------------------

CONCIERGE_REQUIRED = ("number", "email", "status", "placed_at", "item_name")


def _concierge_order(row: dict[str, str], *, tz: tzinfo) -> dict[str, Any]:
    return {
        "email": _email(row, "email"),
        "customer_name": text(row, "customer_name", max_length=200),
        "status": _choice(row, "status", {s.value: s.value for s in Status}),
        "refund_status": _choice(
            row, "refund_status", {"": Refund.NONE} | {r.value: r.value for r in Refund}
        ),
        "carrier": text(row, "carrier", max_length=50),
        "tracking_number": text(row, "tracking_number", max_length=50),
        "eta": _date(row, "eta"),
        "placed_at": _datetime(row, "placed_at", tz=tz),
        "delivered_at": _datetime(row, "delivered_at", tz=tz, required=False),
        "total": price(row, "total") or Decimal(0),
    }


def _concierge_item(row: dict[str, str]) -> dict[str, Any] | None:
    if not cell(row, "item_name"):
        return None
    return _item(
        row,
        name="item_name",
        sku="item_sku",
        quantity="item_quantity",
        unit_price=price(row, "item_price") or Decimal(0),
    )


def read_concierge(path: Path, *, tz: tzinfo) -> Parsed[dict[str, Any]]:
    """Our own orders CSV: number,email,customer_name,status,refund_status,carrier,
    tracking_number,eta,placed_at,delivered_at,total and the line item's item_sku,
    item_name,item_quantity,item_price; one row per line item."""
    return _read(
        path,
        required=CONCIERGE_REQUIRED,
        number="number",
        order=lambda row: _concierge_order(row, tz=tz),
        item=_concierge_item,
    )


# --- the import ---------------------------------------------------------------------

ORDER_FORMATS: dict[str, Callable[..., Parsed[dict[str, Any]]]] = {
    "concierge": read_concierge,
    "shopify": read_shopify,
    "woocommerce": read_woocommerce,
}


def orders_import(
    path: Path,
    *,
    file_format: str = "concierge",
    skip_bad: bool = False,
    show_progress: bool = False,
) -> ImportReport:
    """Create or update orders, by number, with their items, from a file in one of
    ORDER_FORMATS; all of them or (with bad rows, unless ``skip_bad``) none.

    A re-imported order gets the fields the file has and exactly its items; what
    the file doesn't carry (Shopify's export has no tracking number) is kept.
    Raises ImportFailed, having written nothing.
    """
    # A time written without a zone (WooCommerce's) is the shop's.
    tz = ZoneInfo(ShopSettings.load().timezone)
    parsed = ORDER_FORMATS[file_format](path, tz=tz)
    if parsed.errors and not skip_bad:
        raise ImportFailed(path, parsed.errors)
    report = ImportReport(errors=parsed.errors)
    with (
        transaction.atomic(),
        tqdm(
            parsed.records,
            desc="Importing orders",
            unit="order",
            file=sys.stderr,
            disable=not show_progress,
        ) as bar,
    ):
        for fields in bar:
            fields = dict(fields)
            items = fields.pop("items")
            order, created = Order.objects.update_or_create(
                number=fields.pop("number"), defaults=fields
            )
            order.replace_items(items)
            if created:
                report.created += 1
            else:
                report.updated += 1
    return report
