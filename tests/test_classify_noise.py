"""Noise around a clear question does not change what the served model reads."""

from __future__ import annotations

import pytest

from chatbot.dialogue.policy import unsure
from classifier.serving import classify

pytestmark = pytest.mark.django_db

NOISY = [
    ("where is my order?", "<p>where is my <b>order</b>?</p>"),
    (
        "where is my order?",
        "where is my order??? https://shop.example/account/orders/10234?ref=mail",
    ),
    ("how long does shipping take?", "how long does shipping take 🤔🤔🤔 !!!!!"),
    (
        "I want to return my shoes",
        "I want to return my shoes <br> www.shop.example/p/cloudstep-runner 👟👟",
    ),
]


@pytest.mark.parametrize(("clean", "noisy"), NOISY)
def test_markup_links_and_emoji_leave_the_reading_unchanged(
    active_intent_model, clean, noisy
):
    plain, pasted = classify(clean), classify(noisy)
    assert plain is not None and pasted is not None
    assert not pasted.out_of_scope
    assert pasted.intent == plain.intent
    assert not unsure(pasted)  # the bot acts on it instead of asking
