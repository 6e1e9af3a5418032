"""Splitting a message into its requests, and planning them, without a database."""

from __future__ import annotations

import pytest

from chatbot.dialogue import multi
from classifier.serving import Classification

# The message as shoppers type it → the clauses the model reads one by one.
SPLITS = [
    # two requests
    (
        "where's my order NW-10234 and also do you sell rain jackets",
        ["where's my order NW-10234", "do you sell rain jackets"],
    ),
    (
        "how much is shipping to canada and how long does it take",
        ["how much is shipping to canada", "how long does it take"],
    ),
    (
        "can I pay with paypal and do you ship to norway",
        ["can I pay with paypal", "do you ship to norway"],
    ),
    (
        "track my parcel NW-10234. also, do you have gift cards?",
        ["track my parcel NW-10234", "do you have gift cards?"],
    ),
    (
        "recommend a rain jacket, plus, what's your return policy",
        ["recommend a rain jacket", "what's your return policy"],
    ),
    (
        "where's my order and what's your return window",
        ["where's my order", "what's your return window"],
    ),
    (
        "is the parka in stock and how much is delivery",
        ["is the parka in stock", "how much is delivery"],
    ),
    (
        "where is my order? when will it arrive?",
        ["where is my order?", "when will it arrive?"],
    ),
    (
        "i want to cancel NW-10238; also do u have a warranty on tents",
        ["i want to cancel NW-10238", "do u have a warranty on tents"],
    ),
    (
        "hello\nwhere is my parcel\nand do you sell mugs",
        ["hello where is my parcel", "do you sell mugs"],
    ),
    (
        "need to return the boots, oh and is the fleece jacket on sale",
        ["need to return the boots", "is the fleece jacket on sale"],
    ),
    (
        "WHERE IS MY REFUND AND ALSO WHY WAS I CHARGED TWICE",
        ["WHERE IS MY REFUND", "WHY WAS I CHARGED TWICE"],
    ),
    (
        "change my address please and I also need an invoice",
        ["change my address please", "I also need an invoice"],
    ),
    # one request that only looks like two
    ("black and white sneakers", ["black and white sneakers"]),
    # Cancelling refunds by itself: one request (and "cancel" alone is no clause).
    ("cancel and refund my order", ["cancel and refund my order"]),
    ("a tent and sleeping bag for two", ["a tent and sleeping bag for two"]),
    ("salt and pepper grinder under 30", ["salt and pepper grinder under 30"]),
    ("do you also sell hats", ["do you also sell hats"]),
    ("I need a gift for my dad and my mom", ["I need a gift for my dad and my mom"]),
    (
        "my order NW-10234 arrived damaged and I want a new one",
        ["my order NW-10234 arrived damaged and I want a new one"],
    ),
    ("hi! where's my order", ["hi! where's my order"]),
    ("Hi, where is my order NW-10234", ["Hi, where is my order NW-10234"]),
    (
        "thanks! one more thing, do you ship to ireland",
        ["thanks! one more thing, do you ship to ireland"],
    ),
    ("rain jacket, waterproof, size M", ["rain jacket, waterproof, size M"]),
]


@pytest.mark.parametrize(("text", "clauses"), SPLITS)
def test_it_splits_a_message_into_the_clauses_that_may_be_requests(text, clauses):
    assert multi.split(text) == clauses


def reading(intent: str, confidence: float = 0.95) -> Classification:
    return Classification(
        intent=intent,
        confidence=confidence,
        top_k=[(intent, confidence), ("greeting", 0.01)],
        out_of_scope=intent == "oos",
        model_version_id=1,
        model_version="v1",
    )


def sure(c: Classification) -> bool:
    return c.confidence >= 0.55


FORMS = {"order_status", "track_order", "return_item", "cancel_order"}
PEOPLE = {"talk_to_person", "complaint", "frustration"}


def planned(*intents: str) -> multi.Plan:
    found = multi.requests([(f"text {i}", reading(i)) for i in intents], sure=sure)
    return multi.plan(
        found,
        starts_form=lambda intent: intent in FORMS,
        hands_over=lambda intent: intent in PEOPLE,
    )


@pytest.mark.parametrize(
    ("intents", "plan"),
    [
        (("shipping_time", "product_recommendation"), "together"),
        (("warranty", "shipping_cost", "gift_card"), "together"),
        (("order_status", "product_recommendation"), "ask"),
        (("shipping_time", "return_item"), "ask"),
        (("shipping_time", "talk_to_person"), "handoff"),
        (("order_status", "track_order"), "single"),  # one topic
        (("product_recommendation", "product_availability"), "single"),
        (("greeting", "order_status"), "single"),  # small talk is no request
        (("thanks", "goodbye"), "single"),
        (("oos", "shipping_time"), "single"),
        (("shipping_time",), "single"),
    ],
)
def test_it_plans_what_to_do_with_the_requests(intents, plan):
    assert planned(*intents) == plan


def test_a_clause_the_model_is_unsure_of_is_not_a_request():
    found = multi.requests(
        [
            ("hmm ok", reading("warranty", 0.3)),
            ("ship to spain?", reading("shipping_cost")),
        ],
        sure=sure,
    )
    assert [r.intent for r in found] == ["shipping_cost"]


def test_a_request_is_labelled_in_the_customers_words_shortened():
    request = multi.Request(
        text="do you sell rain jackets that are also good for cycling in the dark?",
        classification=reading("product_recommendation"),
    )
    assert request.label(40) == "Do you sell rain jackets that are also…"
    assert len(request.label(40)) <= 40
