"""Answers from the knowledge base: semantic search over article embeddings."""

from __future__ import annotations

from collections.abc import Iterable

from pgvector.django import CosineDistance

from chatbot.models import Article
from ml.encoder import EMBEDDING_FIELDS, embed_changed, get_encoder

# Cosine distance above which the best article is not an answer (chosen on the demo
# FAQ: paraphrased questions land under 0.5, unrelated ones above 0.6).
MAX_DISTANCE = 0.55


def article_embed(articles: Iterable[Article]) -> int:
    """Embed the ``articles`` whose text changed, in one batch; how many were."""
    changed = embed_changed(articles, Article.search_text)
    Article.objects.bulk_update(changed, list(EMBEDDING_FIELDS))
    return len(changed)


def best_article(question: str) -> tuple[Article, float] | None:
    """The published article closest to ``question``, with its distance, if close."""
    vector = get_encoder().encode([question])[0]
    article = (
        Article.objects.filter(published=True, embedding__isnull=False)
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")
        .first()
    )
    if article is None or article.distance > MAX_DISTANCE:
        return None
    return article, float(article.distance)
