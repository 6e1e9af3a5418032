"""Orders, as the bot looks them up (upsert, delete by number)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from api import schemas, services
from api.auth import ApiKeyAuth
from api.models import ApiKey
from chatbot.models import Order

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
