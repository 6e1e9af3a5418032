"""What a bot message records of the models that produced it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chatbot import services
from chatbot.models import Message
from classifier import serving
from recommender.models import Interaction
from recommender.tests.conftest import GROUPS, chain_sequences, group_vectors
from recommender.training import recommender_train
from tests.factories import (
    ConversationFactory,
    CustomerFactory,
    IntentFactory,
    InteractionFactory,
    MessageFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db
PER_GROUP = 6


def test_a_reply_records_the_intent_model_and_how_unsure_it_was(
    active_intent_model,
):
    asked = MessageFactory.create(text="where is my order? it hasn't come")
    reply = services.bot_reply(message_id=asked.pk)
    assert reply is not None
    reply.refresh_from_db()
    assert reply.model_version_id == active_intent_model.pk
    assert reply.uncertainty is not None and 0.0 <= reply.uncertainty <= 1.0
    best, runner_up = reply.ranking[0], reply.ranking[1]
    assert best[1] >= runner_up[1]
    assert reply.uncertainty == pytest.approx(1 - (best[1] - runner_up[1]), abs=1e-3)
    assert reply.recommender_version_id is None  # nothing was recommended


def test_a_reply_is_stored_even_when_the_version_that_read_it_is_gone(
    active_intent_model,
):
    # A process still serving a version whose row a restored (or, in tests, wiped)
    # database no longer has: the reply is stored, naming no version.
    serving.classify("warm up")  # the process now holds the version in memory
    active_intent_model.delete()
    asked = MessageFactory.create(text="where is my order? it hasn't come")
    reply = services.bot_reply(message_id=asked.pk)
    assert reply is not None
    reply.refresh_from_db()
    assert reply.model_version_id is None
    assert reply.intent  # the reading itself is kept


def test_cards_ranked_by_the_recommender_record_its_version(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MODEL_DIR = tmp_path / "models"
    vectors = group_vectors(PER_GROUP)
    catalog = {}
    for g, group in enumerate(GROUPS):
        for i in range(PER_GROUP):
            sku = f"{group}-{i}"
            catalog[sku] = ProductFactory.create(
                sku=sku,
                name=f"{group.title()} {i}",
                price=Decimal("20.00"),
                stock=3,
                embedding=vectors[g * PER_GROUP + i],
            )
    Interaction.objects.bulk_create(
        InteractionFactory.build(customer_id=n, product=catalog[sku], kind="purchase")
        for n, sequence in enumerate(chain_sequences(PER_GROUP, 90).values())
        for sku in sequence
    )
    with django_capture_on_commit_callbacks(execute=True):
        recommender = recommender_train(activate=True)
    IntentFactory.create(name="product_recommendation")
    alice = CustomerFactory.create()
    InteractionFactory.create(customer_id=alice.pk, product=catalog["jacket-1"])
    asked = MessageFactory.create(
        conversation=ConversationFactory.create(customer=alice),
        text="anything that goes with this one?",
        payload={"postback": {"intent": "product_recommendation"}},
    )
    reply = services.bot_reply(message_id=asked.pk)
    assert reply is not None
    stored = Message.objects.get(pk=reply.pk)
    assert stored.payload["cards"]
    assert stored.recommender_version_id == recommender.pk
