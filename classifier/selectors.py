"""Reads about the training data that explain a prediction to a reviewer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from classifier.models import OUT_OF_SCOPE, TrainingExample

# The examples of one label compared with a message: the newest, enough for any
# intent the shop writes by hand; a label with more is compared on these.
EXAMPLES_PER_LABEL = 300


@dataclass(frozen=True)
class Neighbour:
    """A training example close in meaning to a message.

    Attributes:
        example: the row (its ``source`` and ``added_by`` say where it came from).
        similarity: cosine similarity of the two texts' embeddings, -1 to 1.
    """

    example: TrainingExample
    similarity: float


def nearest_examples(text: str, *, label: str, k: int = 3) -> list[Neighbour]:
    """The ``k`` training examples of ``label`` nearest to ``text`` in meaning.

    Embeddings come from the shared encoder, whose cache keeps every text it has
    embedded: a review page embeds an intent's examples once per process.

    Args:
        text: the customer's message.
        label: an intent's name, or ``"oos"`` for the out-of-scope examples.
        k: how many.

    Returns:
        The nearest first, e.g. ``[Neighbour(<"where's my parcel" → order_status>,
        0.83), …]``; fewer when the label has fewer examples.
    """
    from ml.encoder import get_encoder  # torch loads with the first review page

    examples = TrainingExample.objects.select_related("intent", "added_by")
    examples = (
        examples.filter(intent__isnull=True)
        if label == OUT_OF_SCOPE
        else examples.filter(intent__name=label)
    )
    rows = list(examples.order_by("-created", "-pk")[:EXAMPLES_PER_LABEL])
    if not rows or not text.strip():
        return []
    vectors = get_encoder().encode([text, *(row.text for row in rows)])
    similarity = vectors[1:] @ vectors[0]
    order = np.argsort(-similarity, kind="stable")[:k]
    return [Neighbour(rows[i], float(similarity[i])) for i in order]
