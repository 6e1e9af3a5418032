"""Answers from the knowledge base: semantic search over article embeddings."""

from __future__ import annotations

from collections.abc import Iterable

from pgvector.django import CosineDistance

from chatbot.models import Article
from ml.encoder import get_encoder

# Cosine distance above which the best article is not an answer (chosen on the demo
# FAQ: paraphrased questions land under 0.5, unrelated ones above 0.6).
MAX_DISTANCE = 0.55


def article_embed(articles: Iterable[Article]) -> int:
    """Compute and store the embeddings of ``articles`` in one batch."""
    articles = list(articles)
    if not articles:
        return 0
    vectors = get_encoder().encode([a.search_text() for a in articles])
    for article, vector in zip(articles, vectors, strict=True):
        article.embedding = vector
    Article.objects.bulk_update(articles, ["embedding"])
    return len(articles)


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
