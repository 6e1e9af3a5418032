"""A message with two requests, through the service: split, classified in one call
of the demo model, decided, stored (real PostgreSQL, the demo shop and model)."""

from __future__ import annotations

import pytest

from chatbot import services
from chatbot.models import Conversation
from tests.chat import said
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def answer(
    conversation: Conversation, text: str, **fields: object
) -> dict[str, object]:
    message = MessageFactory.create(conversation=conversation, text=text, **fields)
    reply = services.bot_reply(message_id=message.pk)
    assert reply is not None
    return {"text": reply.text, "payload": reply.payload}


def test_an_order_and_a_product_question_ask_which_first(active_intent_model):
    conversation = ConversationFactory.create()
    asked = answer(
        conversation, "where's my order NW-10234 and also do you sell rain jackets"
    )
    assert said("multi_which_first", str(asked["text"]))
    buttons = asked["payload"]["quick_replies"]  # type: ignore[index]
    intents = [b["payload"]["intent"] for b in buttons]
    assert intents[0] == "order_status"
    assert intents[1] in ("product_recommendation", "product_availability")
    # The customer picks the product question first: it is answered with cards,
    # and the order question is not forgotten.
    picked = answer(
        conversation,
        buttons[1]["title"],
        payload={"postback": buttons[1]["payload"]},
    )
    assert picked["payload"]["cards"]  # type: ignore[index]
    assert said("multi_offer", str(picked["text"]), within=True)
    assert "where's my order nw-10234" in str(picked["text"]).lower()


def test_two_questions_that_fit_one_reply_are_both_answered(active_intent_model):
    conversation = ConversationFactory.create()
    both = answer(
        conversation, "how long does shipping take? and do you sell rain jackets"
    )
    payload = both["payload"]
    assert payload["article"]  # type: ignore[index]
    assert payload["cards"]  # type: ignore[index]
