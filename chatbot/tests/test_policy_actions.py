"""Each bot reply names the action the policy took (the frame's ``payload.action``),
so clients and the dialogue tests read what the bot did instead of guessing it."""

from __future__ import annotations

from chatbot.tests.test_policy import Chat, Shop, reading, shop  # noqa: F401


def test_each_reply_names_the_action_that_made_it(shop: Shop) -> None:  # noqa: F811
    def action(chat: Chat, text: str, intent: str, **kwargs: float) -> str:
        return chat.turn(text, reading(intent, **kwargs)).reply.action

    assert action(Chat(shop), "hi", "greeting") == "say"
    assert action(Chat(shop), "how long does delivery take?", "shipping_time") == (
        "answer"
    )
    assert action(Chat(shop), "jacket under $100", "product_recommendation") == (
        "recommend"
    )
    assert action(Chat(shop), "problem", "order_status", confidence=0.4) == "clarify"
    assert action(Chat(shop), "weather?", "oos") == "fallback"
    assert action(Chat(shop), "a person please", "talk_to_person") == "handoff"
    form = Chat(shop)
    assert action(form, "where is my order", "order_status") == "form"
    assert action(form, "NW-10234", "order_status") == "form"
    assert action(form, "alice@example.com", "order_status") == "form"


def test_a_handoff_with_nobody_online_and_its_email_turn_are_the_handoff(
    shop: Shop,  # noqa: F811
) -> None:
    shop.agents_online = 0
    chat = Chat(shop)
    assert chat.turn("a person", reading("talk_to_person")).reply.action == "handoff"
    saved = chat.turn("sam@example.com", reading("greeting", 0.3))
    assert saved.followup_email == "sam@example.com"
    assert saved.reply.action == "handoff"
