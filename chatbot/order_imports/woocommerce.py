"""WooCommerce orders, as the Customer / Order / Coupon Export extension writes them
in its "Default - one row per line item" CSV (WooCommerce has no orders export of
its own): grouped by ``order_number``."""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from chatbot.models import Order
from chatbot.order_imports.reading import (
    datetime_cell,
    email_cell,
    grouped_orders,
    line_item,
)
from recommender.imports.rows import BadCell, Parsed, cell, count, price

Status, Refund = Order.Status, Order.Refund

REQUIRED = (
    "order_number",
    "order_date",
    "status",
    "item_name",
    "item_quantity",
)
STATUSES = {
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


def _order(row: dict[str, str], *, tz: tzinfo) -> dict[str, Any]:
    status = cell(row, "status").lower().removeprefix("wc-")
    if status not in STATUSES:
        known = ", ".join(STATUSES)
        raise BadCell("status", f"{status!r} is not one of {known}")
    name = f"{cell(row, 'billing_first_name')} {cell(row, 'billing_last_name')}"
    return {
        "email": email_cell(row, "billing_email", "customer_email"),
        "customer_name": name.strip()[:200],
        "status": STATUSES[status][0],
        "refund_status": STATUSES[status][1],
        "placed_at": datetime_cell(row, "order_date", tz=tz),
        "total": price(row, "order_total") or Decimal(0),
        "carrier": cell(row, "shipping_method")[:50],
    }


def _item(row: dict[str, str]) -> dict[str, Any] | None:
    if not cell(row, "item_name"):
        return None
    quantity = count(row, "item_quantity") or 1
    # item_total is the line's (after discounts, before tax); the price is per unit.
    line_total = price(row, "item_total") or Decimal(0)
    return line_item(
        row,
        name="item_name",
        sku="item_sku",
        quantity="item_quantity",
        unit_price=(line_total / quantity).quantize(Decimal("0.01")),
    )


def read_orders(path: Path, *, tz: tzinfo) -> Parsed[dict[str, Any]]:
    return grouped_orders(
        path,
        required=REQUIRED,
        number="order_number",
        order=lambda row: _order(row, tz=tz),
        item=_item,
    )
