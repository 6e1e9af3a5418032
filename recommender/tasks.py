"""Background work of the catalog."""

from __future__ import annotations

from celery import shared_task

from recommender import embeddings


@shared_task(acks_late=True)
def embed_products(product_ids: list[int]) -> int:
    """Compute the embeddings of changed products, in one batch."""
    return embeddings.product_embed(product_ids)
