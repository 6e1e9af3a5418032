"""``bot_reply`` applies the policy's decision in one short transaction.

Real PostgreSQL; no intent model is active, so the turns below are ones the policy
decides without one (a form's confirmation button, a follow-up email).
"""

from __future__ import annotations

from typing import Any

import pytest

from chatbot import services
from chatbot.models import Conversation, Message, Order, ReturnRequest
from tests.chat import said
from tests.factories import (
    ConversationFactory,
    MessageFactory,
    OrderFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


def confirming(form: str, order: Order) -> dict[str, Any]:
    """A dialogue state in which the bot has just asked to confirm ``form``."""
    return {
        "form": {
            "name": form,
            "slots": {"order_number": order.number, "email": order.email},
            "asking": "confirm",
            "lookups": 0,
            "misses": 0,
        }
    }


def pressed_yes(conversation: Conversation) -> Message:
    return MessageFactory.create(
        conversation=conversation,
        text="Yes",
        payload={"postback": {"confirm": True}},
    )


def bot_messages(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(sender=Message.Sender.BOT))


@pytest.fixture
def decide_then(monkeypatch):
    """Run ``meanwhile`` right after the policy's first decision, as if another
    process acted while the bot was thinking."""

    def install(meanwhile: Any) -> list[Any]:
        calls: list[Any] = []
        real = services.decide

        def deciding(*args: Any, **kwargs: Any) -> Any:
            decision = real(*args, **kwargs)
            calls.append(decision)
            if len(calls) == 1:
                meanwhile()
            return decision

        monkeypatch.setattr(services, "decide", deciding)
        return calls

    return install


def test_it_cancels_a_confirmed_order_and_stores_the_reply():
    order = OrderFactory.create(number="NW-10238")
    conversation = ConversationFactory.create(state=confirming("cancel", order))
    reply = services.bot_reply(message_id=pressed_yes(conversation).pk)
    assert reply is not None and said("cancel_done", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    conversation.refresh_from_db()
    assert "form" not in conversation.state
    assert conversation.state["last_form"]["name"] == "cancel"


def test_an_order_that_shipped_while_the_bot_decided_is_not_cancelled(decide_then):
    order = OrderFactory.create(number="NW-10238")
    conversation = ConversationFactory.create(state=confirming("cancel", order))
    message = pressed_yes(conversation)
    decisions = decide_then(
        lambda: Order.objects.filter(pk=order.pk).update(status=Order.Status.SHIPPED)
    )
    reply = services.bot_reply(message_id=message.pk)
    assert len(decisions) == 2  # decided again with the shipped order
    assert reply is not None and said("cancel_not_possible", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_it_starts_a_confirmed_return_once():
    order = OrderFactory.create(
        number="NW-10235", status=Order.Status.DELIVERED, delivered_at=None
    )
    Order.objects.filter(pk=order.pk).update(delivered_at=order.placed_at)
    conversation = ConversationFactory.create(state=confirming("return", order))
    message = pressed_yes(conversation)
    reply = services.bot_reply(message_id=message.pk)
    assert reply is not None and said("return_started", reply.text)
    assert ReturnRequest.objects.get(order=order).conversation == conversation
    assert services.bot_reply(message_id=message.pk) is None  # a redelivered task
    assert len(bot_messages(conversation)) == 1


def test_a_conversation_taken_while_the_bot_decided_gets_no_bot_reply(decide_then):
    conversation = ConversationFactory.create()
    message = MessageFactory.create(conversation=conversation, text="anyone there?")
    bob = StaffFactory.create()
    decide_then(
        lambda: Conversation.objects.get(pk=conversation.pk).take(agent_id=bob.pk)
    )
    assert services.bot_reply(message_id=message.pk) is None
    assert bot_messages(conversation) == []


def test_a_state_changed_while_the_bot_decided_is_decided_again(decide_then):
    order = OrderFactory.create(number="NW-10238")
    conversation = ConversationFactory.create(state=confirming("cancel", order))
    message = pressed_yes(conversation)

    def customer_gave_up_meanwhile() -> None:
        Conversation.objects.filter(pk=conversation.pk).update(state={})

    decisions = decide_then(customer_gave_up_meanwhile)
    reply = services.bot_reply(message_id=message.pk)
    assert len(decisions) == 2
    assert reply is not None and not said("cancel_done", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_a_handoff_queues_the_conversation_and_saves_the_follow_up_email():
    conversation = ConversationFactory.create()
    handoff = MessageFactory.create(
        conversation=conversation,
        text="Talk to a person",
        payload={"postback": {"action": "handoff"}},
    )
    reply = services.bot_reply(message_id=handoff.pk)
    conversation.refresh_from_db()
    assert reply is not None and said("handoff_no_agents", reply.text)
    assert conversation.status == Conversation.Status.WAITING_FOR_AGENT
    assert conversation.waiting_since is not None
    assert conversation.state["handoff"]["reason"] == "pressed “talk to a person”"

    email = MessageFactory.create(conversation=conversation, text="me@example.org")
    saved = services.bot_reply(message_id=email.pk)
    assert saved is not None and said("handoff_email_saved", saved.text)
    conversation.customer.refresh_from_db()
    assert conversation.customer.email == "me@example.org"
    assert [m.seq for m in conversation.messages.all()] == [1, 2, 3, 4]
