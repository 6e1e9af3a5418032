"""The shared encoder: one per process, threads capped by the TORCH_THREADS setting."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from ml.encoder import get_encoder, reset_encoder, text_sha256


@pytest.fixture
def fresh_encoder() -> Iterator[None]:
    threads = torch.get_num_threads()
    reset_encoder()
    yield
    reset_encoder()
    torch.set_num_threads(threads)


def test_it_caps_torch_threads_from_the_setting(settings, fresh_encoder):
    settings.TORCH_THREADS = 1
    encoder = get_encoder()
    assert encoder.num_threads == 1
    assert torch.get_num_threads() == 1


def test_it_loads_one_encoder_per_process_and_embeds_normalised_vectors(
    fresh_encoder,
):
    first, second = get_encoder(), get_encoder()
    vectors = first.encode(["where is my order", "where is my order"])
    assert first is second
    assert vectors.shape == (2, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4


def test_an_article_is_embedded_again_only_when_its_text_changed(db):
    from chatbot.dialogue.knowledge import article_embed
    from tests.factories import ArticleFactory

    article = ArticleFactory.create(
        title="Returns", slug="returns", body="You have 30 days to return an item."
    )
    assert article_embed([article]) == 1
    article.refresh_from_db()
    first = np.array(article.embedding)
    assert article_embed([article]) == 0
    article.published = False
    article.save()
    assert article_embed([article]) == 0  # not part of the text
    article.body = "You have 60 days to return an item."
    article.save()
    assert article_embed([article]) == 1
    article.refresh_from_db()
    assert not np.allclose(np.array(article.embedding), first)
    assert article.embedded_text_sha256 == text_sha256(article.search_text())
