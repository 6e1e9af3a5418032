"""Embed-on-save: one batch per committed transaction, for products and articles.

These tests commit for real (``transaction=True``): what they check is what happens
at a commit and at a rollback, which the per-test transaction of ``db`` hides.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from chatbot.models import Article
from recommender.models import Product
from tests.factories import ArticleFactory, ProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


@pytest.fixture
def embedding_on(settings: Any) -> None:
    settings.EMBED_ON_SAVE = True


@pytest.fixture
def queued_products(embedding_on: None, monkeypatch: Any) -> list[list[int]]:
    """The batches handed to ``embed_products``, in order (the worker is not run)."""
    from recommender import tasks

    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_products, "delay", batches.append)
    return batches


@pytest.fixture
def queued_articles(embedding_on: None, monkeypatch: Any) -> list[list[int]]:
    from chatbot import tasks

    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_articles, "delay", batches.append)
    return batches


def product(sku: str) -> Product:
    return ProductFactory.create(sku=sku, name=f"Item {sku}", category="C", price=1)


def article(slug: str) -> Article:
    return ArticleFactory.create(title=f"About {slug}", slug=slug, body="Text.")


def test_it_queues_a_transactions_saves_as_one_batch_after_commit(queued_products):
    with transaction.atomic():
        saved = [product(sku) for sku in "ABCDE"]
        saved[0].name = "Renamed"
        saved[0].save()
        assert queued_products == []  # nothing before the commit
    assert queued_products == [sorted(p.pk for p in saved)]


def test_each_transaction_gets_its_own_batch(queued_products):
    with transaction.atomic():
        first = product("A")
    with transaction.atomic():
        second = product("B")
    assert queued_products == [[first.pk], [second.pk]]


def test_a_save_outside_a_transaction_is_queued_at_once(queued_products):
    saved = product("A")
    assert queued_products == [[saved.pk]]


def test_a_rolled_back_transaction_queues_nothing_and_later_saves_still_are(
    queued_products,
):
    with pytest.raises(Rollback), transaction.atomic():
        product("A")
        raise Rollback
    assert queued_products == []
    with transaction.atomic():
        later = product("B")
    assert queued_products == [[later.pk]]


def test_a_rolled_back_savepoint_that_opened_the_batch_takes_only_its_own_saves(
    queued_products,
):
    with transaction.atomic():
        with pytest.raises(Rollback), transaction.atomic():
            product("A")
            raise Rollback
        kept = product("B")
    assert queued_products == [[kept.pk]]


def test_a_rolled_back_savepoint_never_loses_the_outer_transactions_saves(
    queued_products,
):
    with transaction.atomic():
        before = product("A")
        with pytest.raises(Rollback), transaction.atomic():
            product("B")
            raise Rollback
        after = product("C")
    # The rolled-back save may ride along (embedding is idempotent); one batch, and
    # both saves that committed are in it.
    assert len(queued_products) == 1
    assert {before.pk, after.pk} <= set(queued_products[0])


def test_storing_the_embedding_itself_queues_nothing(queued_products):
    saved = product("A")
    queued_products.clear()
    saved.embedded_text_sha256 = "0" * 64
    saved.save(update_fields=["embedded_text_sha256"])
    assert queued_products == []


def test_nothing_is_queued_while_embedding_on_save_is_off(queued_products, settings):
    settings.EMBED_ON_SAVE = False
    with transaction.atomic():
        product("A")
        article("a")
    assert queued_products == []


def test_articles_go_the_same_way_as_products(queued_articles, queued_products):
    with pytest.raises(Rollback), transaction.atomic():
        article("lost")
        raise Rollback
    with transaction.atomic():
        saved = [article("returns"), article("shipping")]
        item = product("A")
    assert queued_articles == [sorted(a.pk for a in saved)]
    assert queued_products == [[item.pk]]


def test_after_a_rollback_the_worker_still_embeds_what_is_saved(
    embedding_on, eager_tasks, monkeypatch
):
    from recommender import embeddings

    calls: list[list[int]] = []

    def product_embed(product_ids: list[int]) -> int:
        calls.append(product_ids)
        return real(product_ids)

    real = embeddings.product_embed
    monkeypatch.setattr(embeddings, "product_embed", product_embed)
    with pytest.raises(Rollback), transaction.atomic():
        product("A")
        raise Rollback
    with transaction.atomic():
        saved = [product("B"), product("C")]
        help_page = article("returns")
    assert calls == [[p.pk for p in saved]]  # the real task, once, with both
    for row in [*saved, help_page]:
        row.refresh_from_db()
        assert row.embedding is not None
        assert row.embedded_text_sha256
