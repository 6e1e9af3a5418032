"""Product embeddings: computed in batches, in the background, after a change."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from django.conf import settings
from django.db import transaction

from ml.encoder import get_encoder
from recommender.models import Product

BATCH = 256
EMBEDDING_FIELDS = frozenset({"embedding", "embedded_text_sha256"})
_pending = threading.local()


def product_text(product: Product) -> str:
    return f"{product.name}. {product.category}. {product.brand}. {product.description}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
    stale = [
        product
        for product in products.order_by("pk")
        if product.embedding is None
        or product.embedded_text_sha256 != _sha256(product_text(product))
    ]
    for start in range(0, len(stale), BATCH):
        chunk = stale[start : start + BATCH]
        texts = [product_text(p) for p in chunk]
        vectors = get_encoder().encode(texts)
        for product, text, vector in zip(chunk, texts, vectors, strict=True):
            product.embedding = vector
            product.embedded_text_sha256 = _sha256(text)
        Product.objects.bulk_update(chunk, list(EMBEDDING_FIELDS))
    return len(stale)


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
