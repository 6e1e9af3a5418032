"""Product embeddings: computed in batches, in the background, after a change.

Saves queue them through ``ml.embedding_queue`` (connected in ``RecommenderConfig``).
"""

from __future__ import annotations

from ml.encoder import EMBEDDING_FIELDS, embed_changed
from recommender.models import Product

BATCH = 256


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
    changed = embed_changed(products.order_by("pk"), Product.search_text)
    Product.objects.bulk_update(changed, list(EMBEDDING_FIELDS), batch_size=BATCH)
    return len(changed)
