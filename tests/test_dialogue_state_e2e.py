"""Dialogue state end to end: real websockets, real server and worker, demo shop.

A budget written the way shoppers write it, then a follow-up read against the cards
(issue 13, class 3); an order number sent on its own (class 4), recorded under the
order form's intent rather than the model's guess.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async

from chatbot.models import Conversation, Message
from recommender.models import Product
from tests.chat import Customer, said

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop(live_stack, active_intent_model):
    return live_stack


@database_sync_to_async
def products(skus: list[str]) -> list[Product]:
    return list(Product.objects.filter(sku__in=skus))


@database_sync_to_async
def bot_messages(public_id: str) -> list[Message]:
    conversation = Conversation.objects.get(public_id=public_id)
    return list(conversation.messages.filter(sender=Message.Sender.BOT).order_by("seq"))


async def test_a_budget_in_words_holds_and_cheaper_reads_the_cards(shop):
    async with Customer(shop.port) as alice:
        first = await alice.say("hey can u recommend running shoes under eighty bucks")
        cards = first["payload"]["cards"]
        assert cards
        shown = await products([c["sku"] for c in cards])
        assert all(p.category == "Shoes" for p in shown)
        assert all(p.price <= 80 and p.stock > 0 for p in shown)
        cheapest = min(Decimal(c["price"]) for c in cards)

        cheaper = await alice.say("anything cheaper?")
    assert said("recommend_refined", cheaper["text"])
    again = await products([c["sku"] for c in cheaper["payload"]["cards"]])
    assert again
    assert all(p.category == "Shoes" for p in again)
    assert all(p.price < cheapest and p.stock > 0 for p in again)


async def test_an_order_number_on_its_own_starts_the_order_form(shop):
    async with Customer(shop.port) as alice:
        asked = await alice.say("nw 10234")
        assert said("ask_order_email", asked["text"])
        assert asked["payload"]["form_turn"] == "order_status"
        status = await alice.say("alice@example.com")
        public_id = alice.session["conversation"]
    assert said("order_status", status["text"])
    assert "NW-10234" in status["text"]
    replies = await bot_messages(public_id)
    assert [(m.intent, m.confidence) for m in replies[-2:]] == [
        ("order_status", None),
        ("order_status", None),
    ]
