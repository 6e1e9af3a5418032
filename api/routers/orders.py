"""Orders, as the bot looks them up (upsert, delete by number)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from api import schemas, services
from api.auth import ApiKeyAuth
from api.errors import bad_rows
from api.models import ApiKey
from chatbot.models import Order
from recommender.imports.rows import ImportFailed

router = Router(auth=ApiKeyAuth(ApiKey.Scope.ORDERS), tags=["orders"])


@router.put(
    "/orders",
    response={200: schemas.UpsertOut, **schemas.ERRORS},
    summary="Create or update orders by number",
)
def orders_upsert(request: HttpRequest, body: schemas.OrdersIn) -> services.Changes:
    """Idempotent by number; an order's ``items`` replace the ones it had."""
    return services.orders_upsert(orders=[order.model_dump() for order in body.orders])


@router.post(
    "/orders/import",
    response={200: schemas.ImportOut, **schemas.ERRORS},
    summary="Import an orders CSV as the shop exports it (Shopify, WooCommerce)",
)
def orders_import(request: HttpRequest, body: schemas.ImportIn) -> dict[str, Any]:
    """The file ``import_orders --format`` reads, as text: one row per line item,
    grouped by order number; idempotent by number. A file with bad rows imports
    nothing (``import.bad_rows``, each with its line and column) unless
    ``skip_bad``."""
    try:
        report = services.orders_file_import(
            text=body.csv, file_format=body.format, skip_bad=body.skip_bad
        )
    except ImportFailed as failed:
        raise bad_rows(failed) from None
    return services.import_result(report)


@router.post(
    "/orders/delete",
    response={200: schemas.DeleteOut, **schemas.ERRORS},
    summary="Delete orders by number",
)
def orders_delete(
    request: HttpRequest, body: schemas.NumbersIn
) -> dict[str, list[str]]:
    """Idempotent: a number already gone is reported ``missing``."""
    deleted, missing = services.delete_by_key(Order, key="number", values=body.numbers)
    return {"deleted": deleted, "missing": missing}
