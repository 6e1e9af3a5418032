"""Orders from the file a shop exports, one row per line item, grouped by order
number: Shopify's orders CSV, WooCommerce's as the "Customer / Order / Coupon
Export" extension writes it, or ours (one module per format). The row handling and
error reporting are the catalog imports' (``recommender.imports.rows``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from tqdm import tqdm

from chatbot.models import Order, ShopSettings
from chatbot.order_imports import concierge, shopify, woocommerce
from recommender.imports.rows import ImportFailed, ImportReport, Parsed, set_fields

ORDER_FORMATS: dict[str, Callable[..., Parsed[dict[str, Any]]]] = {
    "concierge": concierge.read_orders,
    "shopify": shopify.read_orders,
    "woocommerce": woocommerce.read_orders,
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
        numbers = [order["number"] for order in parsed.records]
        existing = Order.objects.select_for_update().in_bulk(
            numbers, field_name="number"
        )
        for fields in bar:
            fields = dict(fields)
            items = fields.pop("items")
            order = existing.get(fields["number"]) or Order(number=fields["number"])
            new = order._state.adding
            changed = set_fields(order, fields)
            if new or changed:
                order.save()
                existing[order.number] = order
            changed = order.replace_items(items) or changed
            report.count(new=new, changed=changed)
    return report
