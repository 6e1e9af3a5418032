"""The demo model tells frustration with the chat from its neighbours.

Messages written for this test, not among the training examples; the model is the
demo one the suite trains once (``demo_intent_model_dir``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.model import IntentModel

FRUSTRATED = [
    "you have no idea what I'm saying do you",
    "I've asked you the same thing 3 times",
    "omg are you a bot, you keep saying the same thing",
    "this is useless, you don't understand",
    "NO. THAT IS NOT WHAT I ASKED",
    "u keep sending me the wrong article",
    "why don't you get it",
    "you're not understanding me at all",
    "again?? i told you already",
    "ur answers make zero sense",
    "cant you understand a simple question",
]
ABOUT_THE_BOT = [
    "are you a bot",
    "what can you help me with",
    "what can this chat do",
]
COMPLAINTS = [
    "I'm very unhappy with the quality of your jackets",
    "I want to file a formal complaint",
]


@pytest.fixture(scope="module")
def model(demo_intent_model_dir: Path) -> IntentModel:
    return IntentModel.load(demo_intent_model_dir)


def intents(model: IntentModel, texts: list[str]) -> list[str]:
    return [p.intent for p in model.predict(texts)]


def test_it_reads_frustration_with_the_chat_as_frustration(model):
    read = intents(model, FRUSTRATED)
    missed = [t for t, i in zip(FRUSTRATED, read, strict=True) if i != "frustration"]
    # One miss in eleven is allowed: the policy's keyword list is the backstop.
    assert len(missed) <= 1, missed


def test_questions_about_the_bot_and_complaints_stay_what_they_are(model):
    assert intents(model, ABOUT_THE_BOT) == ["bot_capabilities"] * len(ABOUT_THE_BOT)
    assert intents(model, COMPLAINTS) == ["complaint"] * len(COMPLAINTS)
