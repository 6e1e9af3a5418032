"""What the order formats share: one row per line item, grouped by the order's
number, and the cells an order has (email, times, a choice of statuses)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from recommender.imports.rows import (
    BadCell,
    BadRow,
    Parsed,
    RowError,
    cell,
    count,
    csv_rows,
    text,
)

Rows = list[tuple[int, dict[str, str]]]
# How the exports write a time: Shopify "2026-11-03 14:05:09 +0100"; WooCommerce
# "2026-11-03 14:05:09" (the shop's time zone); ours ISO 8601.
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z", "%Y-%m-%d %H:%M")


def email_cell(row: dict[str, str], *columns: str) -> str:
    column = next((c for c in columns if cell(row, c)), columns[0])
    value = cell(row, column)
    if not value:
        raise BadCell(column, "missing: the bot finds an order by its email")
    try:
        validate_email(value)
    except ValidationError:
        raise BadCell(column, f"{value!r} is not an email address") from None
    return value


def datetime_cell(
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


def date_cell(row: dict[str, str], column: str) -> date | None:
    raw = cell(row, column)
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise BadCell(column, f"{raw!r} is not a date (2026-12-24)") from None


def choice_cell(row: dict[str, str], column: str, choices: dict[str, Any]) -> Any:
    value = cell(row, column).lower()
    if value not in choices:
        known = ", ".join(sorted(k for k in choices if k))
        raise BadCell(column, f"{value!r} is not one of {known}")
    return choices[value]


def line_item(
    row: dict[str, str], *, name: str, sku: str, quantity: str, unit_price: Decimal
) -> dict[str, Any]:
    amount = count(row, quantity)
    if amount == 0:
        raise BadCell(quantity, "0 is not a quantity")
    return {
        "sku": text(row, sku, max_length=64),
        "name": text(row, name, max_length=200, required=True),
        "quantity": 1 if amount is None else amount,  # left empty: one
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


def grouped_orders(
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
