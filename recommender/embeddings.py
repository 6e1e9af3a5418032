"""Product embeddings: computed in batches, in the background, after a change."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db import transaction

from ml.encoder import EMBEDDING_FIELDS, embed_changed
from recommender.models import Product

BATCH = 256
_pending = threading.local()


def product_text(product: Product) -> str:
    return f"{product.name}. {product.category}. {product.brand}. {product.description}"


def product_embed(product_ids: list[int] | None = None) -> int:
    """Embed the given products (all without an embedding when ``None``).

    A product whose text is unchanged since its embedding was computed is skipped,
    so re-importing a catalog to update prices and stock costs no encoder time.

    Returns:
        How many products were embedded.
    """
    products = Product.objects.all()
    products = (
        products.filter(pk__in=product_ids)
        if product_ids is not None
        else products.filter(embedding__isnull=True)
    )
    changed = embed_changed(products.order_by("pk"), product_text)
    Product.objects.bulk_update(changed, list(EMBEDDING_FIELDS), batch_size=BATCH)
    return len(changed)


def schedule_embedding(product_ids: list[int]) -> None:
    """Queue ``product_ids`` for embedding once the current transaction commits.

    All changes of one transaction go to the worker as one batch.
    """
    pending: set[int] | None = getattr(_pending, "ids", None)
    if pending is None:
        _pending.ids = pending = set()
        transaction.on_commit(_flush)
    pending.update(product_ids)


def _flush() -> None:
    from recommender.tasks import embed_products

    ids, _pending.ids = sorted(_pending.ids), None
    embed_products.delay(ids)


def product_saved(sender: Any, instance: Product, **kwargs: Any) -> None:
    if not settings.EMBED_ON_SAVE or kwargs.get("raw"):
        return
    if kwargs.get("update_fields") and kwargs["update_fields"] <= EMBEDDING_FIELDS:
        return
    schedule_embedding([instance.pk])
