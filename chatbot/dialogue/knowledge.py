"""Answers from the knowledge base: the articles an intent links to first, semantic
search over the whole help centre after; the section nearest the question is quoted.

Articles are embedded whole (``article_embed``, stored with pgvector); their sections
are embedded when first asked about, through the encoder's cache, so editing an
article costs nothing until a question reaches it. A question is embedded once per
decision (:class:`Answers` keeps its vector) and compared with everything from that.

Links between intents and articles are set in the admin; where one is missing, the
nearest articles of an intent (the centroid of its training examples) and the
nearest intents of an article are suggested (:func:`suggest_articles`,
:func:`suggest_intents`, ``manage.py link_articles``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np
from pgvector.django import CosineDistance

from chatbot.dialogue.articles import Passage, fill_shop, section_search_text
from chatbot.dialogue.shop import Shop
from chatbot.models import Article
from classifier.models import Intent
from ml.encoder import EMBEDDING_FIELDS, embed_changed, get_encoder

# Cosine distance above which the best article is not an answer (chosen on the demo
# FAQ: paraphrased questions land under 0.5, unrelated ones above 0.6).
MAX_DISTANCE = 0.55
# An article the intent links to is an answer up to this distance: the confident
# intent already vouches for the topic, so the words need to agree less. Measured
# on the demo shop with questions written apart from the intents' examples: those
# of the intent's topic land 0.2 to 0.8 (most under 0.75) from the nearest section
# of a linked article, those of another topic 0.9 and above.
LINKED_MAX_DISTANCE = 0.75
# Cosine distance a lead section is forgiven against a later one (a near tie).
LEAD_BONUS = 0.03
# How many articles of the whole help centre have their sections compared.
SEARCH_ARTICLES = 3
# Training examples per intent its centroid is computed from (the newest first).
CENTROID_EXAMPLES = 60
# Suggestions below this similarity are not worth a click.
MIN_SUGGESTED_SIMILARITY = 0.3


def article_embed(articles: Iterable[Article]) -> int:
    """Embed the ``articles`` whose text changed, in one batch; how many were."""
    changed = embed_changed(articles, Article.search_text)
    Article.objects.bulk_update(changed, list(EMBEDDING_FIELDS))
    return len(changed)


def cosine_distances(vector: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Distances of normalised ``vector`` to each normalised row of ``matrix``."""
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(1.0 - matrix @ vector, dtype=np.float32)


class Answers:
    """The help-centre lookups of one decision; the question is embedded once.

    ``shop``: the shop's settings, filled into sections before they are compared
    ("within 30 days" matches "three weeks ago" better than a placeholder does).
    """

    def __init__(self, *, shop: Callable[[], Shop] = Shop) -> None:
        self.shop = shop
        self._vectors: dict[str, np.ndarray] = {}

    def vector(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = get_encoder().encode([text])[0]
        return self._vectors[text]

    def linked_articles(self, intent: str) -> list[Article]:
        """The published articles linked to ``intent``."""
        return list(
            Article.objects.filter(published=True, intents__name=intent).distinct()
        )

    def nearest_articles(
        self, question: str, *, limit: int
    ) -> list[tuple[Article, float]]:
        rows = (
            Article.objects.filter(published=True, embedding__isnull=False)
            .annotate(distance=CosineDistance("embedding", self.vector(question)))
            .order_by("distance")[:limit]
        )
        return [(row, float(row.distance)) for row in rows]

    def find_passage(
        self, question: str, *, among: Sequence[Article] | None = None
    ) -> Passage | None:
        """The section nearest ``question`` among ``among`` (the articles an intent
        links to), or in the whole help centre when ``among`` is None.

        Returns:
            The passage, with ``fits`` saying whether it is close enough to be an
            answer; None when there is no article to search.
        """
        vector = self.vector(question)
        if among is None:
            found = self.nearest_articles(question, limit=SEARCH_ARTICLES)
            if not found:
                return None
            close = [(a, d) for a, d in found if d <= MAX_DISTANCE]
            best = nearest_section(vector, close or found[:1], shop=self.shop())
            return replace(best, fits=bool(close))
        linked = [(a, article_distance(vector, a)) for a in among]
        if not linked:
            return None
        best = nearest_section(vector, linked, shop=self.shop())
        article_d = next(d for a, d in linked if a.pk == best.article.pk)
        fits = min(best.distance, article_d) <= LINKED_MAX_DISTANCE
        return replace(best, fits=fits)


def article_distance(vector: np.ndarray, article: Article) -> float:
    if article.embedding is None:
        return 1.0
    embedding = np.asarray(article.embedding, dtype=np.float32)
    return float(cosine_distances(vector, embedding[None, :])[0])


def nearest_section(
    vector: np.ndarray, articles: Sequence[tuple[Article, float]], *, shop: Shop
) -> Passage:
    """The best section of ``articles`` for the question ``vector``.

    A section ranks by its own distance to the question and its article's, in
    equal parts: the title carries the topic, the section the detail asked about.
    Help-centre articles put the answer first, so the lead section wins a near tie
    (``LEAD_BONUS``): "how long does delivery take to texas" gets the delivery
    times, not the paragraph on when the counting starts.
    """
    candidates = [
        (article, article_d, section)
        for article, article_d in articles
        for section in article.sections()
    ]
    texts = [fill_shop(section_search_text(a, s), shop) for a, _, s in candidates]
    distances = cosine_distances(vector, get_encoder().encode(texts))
    scores = [
        (float(d) - (LEAD_BONUS if section.index == 0 else 0.0) + article_d) / 2
        for d, (_, article_d, section) in zip(distances, candidates, strict=True)
    ]
    best = int(np.argmin(scores))
    article, _, section = candidates[best]
    return Passage(article, section, float(distances[best]), fits=True)


# --- suggested links (admin and ``manage.py link_articles``) ------------------------


def intent_centroids(intents: Iterable[Intent]) -> dict[int, np.ndarray]:
    """Each intent's mean training-example embedding (normalised); intents with no
    examples have none."""
    texts: dict[int, list[str]] = {}
    for intent in intents:
        examples = intent.examples.order_by("-created").values_list("text", flat=True)
        if rows := list(examples[:CENTROID_EXAMPLES]):
            texts[intent.pk] = rows
    flat = [text for rows in texts.values() for text in rows]
    vectors = get_encoder().encode(flat) if flat else np.zeros((0, 1))
    centroids: dict[int, np.ndarray] = {}
    start = 0
    for pk, rows in texts.items():
        mean = vectors[start : start + len(rows)].mean(axis=0)
        centroids[pk] = mean / (np.linalg.norm(mean) or 1.0)
        start += len(rows)
    return centroids


def suggest_articles(intent: Intent, *, limit: int = 3) -> list[tuple[Article, float]]:
    """The published articles nearest an intent's examples, with their similarity."""
    centroid = intent_centroids([intent]).get(intent.pk)
    if centroid is None:
        return []
    rows = (
        Article.objects.filter(published=True, embedding__isnull=False)
        .annotate(distance=CosineDistance("embedding", centroid))
        .order_by("distance")[:limit]
    )
    found = [(row, 1.0 - float(row.distance)) for row in rows]
    return [(a, s) for a, s in found if s >= MIN_SUGGESTED_SIMILARITY]


def suggest_intents(article: Article, *, limit: int = 3) -> list[tuple[Intent, float]]:
    """The intents whose examples are nearest an article, with their similarity."""
    if article.embedding is None:
        return []
    intents = {
        i.pk: i for i in Intent.objects.filter(examples__isnull=False).distinct()
    }
    centroids = intent_centroids(intents.values())
    if not centroids:
        return []
    pks = list(centroids)
    vector = np.asarray(article.embedding, dtype=np.float32)
    similarity = np.stack([centroids[pk] for pk in pks]) @ vector
    order = np.argsort(-similarity)[:limit]
    found = [(intents[pks[i]], float(similarity[i])) for i in order]
    return [(i, s) for i, s in found if s >= MIN_SUGGESTED_SIMILARITY]
