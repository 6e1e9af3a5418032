"""Our own orders CSV: one row per line item, grouped by ``number``."""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from chatbot.models import Order
from chatbot.order_imports.reading import (
    choice_cell,
    date_cell,
    datetime_cell,
    email_cell,
    grouped_orders,
    line_item,
)
from recommender.imports.rows import Parsed, cell, price, text

Status, Refund = Order.Status, Order.Refund

REQUIRED = ("number", "email", "status", "placed_at", "item_name")


def _order(row: dict[str, str], *, tz: tzinfo) -> dict[str, Any]:
    return {
        "email": email_cell(row, "email"),
        "customer_name": text(row, "customer_name", max_length=200),
        "status": choice_cell(row, "status", {s.value: s.value for s in Status}),
        "refund_status": choice_cell(
            row, "refund_status", {"": Refund.NONE} | {r.value: r.value for r in Refund}
        ),
        "carrier": text(row, "carrier", max_length=50),
        "tracking_number": text(row, "tracking_number", max_length=50),
        "eta": date_cell(row, "eta"),
        "placed_at": datetime_cell(row, "placed_at", tz=tz),
        "delivered_at": datetime_cell(row, "delivered_at", tz=tz, required=False),
        "total": price(row, "total") or Decimal(0),
    }


def _item(row: dict[str, str]) -> dict[str, Any] | None:
    if not cell(row, "item_name"):
        return None
    return line_item(
        row,
        name="item_name",
        sku="item_sku",
        quantity="item_quantity",
        unit_price=price(row, "item_price") or Decimal(0),
    )


def read_orders(path: Path, *, tz: tzinfo) -> Parsed[dict[str, Any]]:
    """Our own orders CSV: number,email,customer_name,status,refund_status,carrier,
    tracking_number,eta,placed_at,delivered_at,total and the line item's item_sku,
    item_name,item_quantity,item_price; one row per line item."""
    return grouped_orders(
        path,
        required=REQUIRED,
        number="number",
        order=lambda row: _order(row, tz=tz),
        item=_item,
    )
