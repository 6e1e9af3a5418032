"""Shopify's orders export (Orders → Export → CSV): one row per line item, the
order's fields on its first row, grouped by ``Name`` (#1001)."""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from chatbot.models import Order
from chatbot.order_imports.reading import (
    choice_cell,
    datetime_cell,
    email_cell,
    grouped_orders,
    line_item,
)
from recommender.imports.rows import Parsed, cell, price

Status, Refund = Order.Status, Order.Refund

REQUIRED = (
    "Name",
    "Email",
    "Financial Status",
    "Fulfillment Status",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
)
FINANCIAL = {
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
FULFILLMENT = {
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


def _order(row: dict[str, str], *, tz: tzinfo) -> dict[str, Any]:
    status, refund = shopify_status(
        choice_cell(row, "Financial Status", FINANCIAL),
        choice_cell(row, "Fulfillment Status", FULFILLMENT),
        cancelled=bool(cell(row, "Cancelled at")),
    )
    return {
        "email": email_cell(row, "Email"),
        "customer_name": (cell(row, "Billing Name") or cell(row, "Shipping Name"))[
            :200
        ],
        "status": status,
        "refund_status": refund,
        "placed_at": datetime_cell(row, "Created at", tz=tz),
        "total": price(row, "Total") or Decimal(0),
        # The export names the shipping rate ("DHL Express"), the nearest it has
        # to a carrier.
        "carrier": cell(row, "Shipping Method")[:50],
    }


def _item(row: dict[str, str]) -> dict[str, Any] | None:
    if not cell(row, "Lineitem name") and not cell(row, "Lineitem quantity"):
        return None
    return line_item(
        row,
        name="Lineitem name",
        sku="Lineitem sku",
        quantity="Lineitem quantity",
        unit_price=price(row, "Lineitem price") or Decimal(0),
    )


def read_orders(path: Path, *, tz: tzinfo) -> Parsed[dict[str, Any]]:
    return grouped_orders(
        path,
        required=REQUIRED,
        number="Name",
        order=lambda row: _order(row, tz=tz),
        item=_item,
    )
