"""Products (upsert, delete by sku) and tracking events from the shop's server."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from api import schemas, services
from api.auth import ApiKeyAuth
from api.errors import bad_rows
from api.models import ApiKey
from recommender.imports.rows import ImportFailed
from recommender.models import Product

router = Router(auth=ApiKeyAuth(ApiKey.Scope.CATALOG), tags=["catalog"])


@router.put(
    "/products",
    response={200: schemas.UpsertOut, **schemas.ERRORS},
    summary="Create or update products by sku",
)
def products_upsert(request: HttpRequest, body: schemas.ProductsIn) -> services.Changes:
    """Idempotent by sku: sending the same products again changes nothing.
    Embeddings (what the bot searches by meaning) follow in the background."""
    return services.products_upsert(
        products=[product.model_dump() for product in body.products]
    )


@router.post(
    "/products/import",
    response={200: schemas.ImportOut, **schemas.ERRORS},
    summary="Import a product CSV as the shop exports it (Shopify, WooCommerce)",
)
def products_import(request: HttpRequest, body: schemas.ImportIn) -> dict[str, Any]:
    """The file ``import_products --format`` reads, as text: variants become one
    product with its sizes and colours; idempotent by sku. A file with bad rows
    imports nothing (``import.bad_rows``, each with its line and column) unless
    ``skip_bad``. Embeddings follow in the background."""
    try:
        report = services.products_file_import(
            text=body.csv, file_format=body.format, skip_bad=body.skip_bad
        )
    except ImportFailed as failed:
        raise bad_rows(failed) from None
    return services.import_result(report)


@router.post(
    "/products/delete",
    response={200: schemas.DeleteOut, **schemas.ERRORS},
    summary="Delete products by sku",
)
def products_delete(request: HttpRequest, body: schemas.SkusIn) -> dict[str, list[str]]:
    """Idempotent: a sku already gone is reported ``missing``. The product's
    tracking events go with it."""
    deleted, missing = services.delete_by_key(Product, key="sku", values=body.skus)
    return {"deleted": deleted, "missing": missing}


@router.post(
    "/events",
    response={200: schemas.EventsOut, **schemas.ERRORS},
    summary="Record tracking events (views, add-to-cart, purchases)",
)
def events_record(request: HttpRequest, body: schemas.EventsIn) -> dict[str, object]:
    """What a customer did on the shop, told by its server: the recommender learns
    from these as from the widget's. Name the customer by ``customer`` (the id in a
    conversation's ``customer.id``) or by a ``conversation`` of theirs."""
    result = services.events_record(
        events=[event.model_dump() for event in body.events]
    )
    return {
        "recorded": result.recorded,
        "skipped": [
            {"index": index, "reason": reason} for index, reason in result.skipped
        ],
    }
