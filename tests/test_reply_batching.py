"""Micro-batching on the reply outbox: one reply task answers what is waiting, in one
call of the model, and no reply is lost or doubled by it (#14)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chatbot import services
from chatbot.models import Conversation, Message, PendingReply
from classifier import serving
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db

LEASE = timedelta(seconds=10)


def customer_says(conversation: Conversation, text: str) -> Message:
    message, _ = services.message_store(
        conversation_id=conversation.pk, sender=Message.Sender.CUSTOMER, text=text
    )
    return message


def replies_to(message: Message) -> int:
    return Message.objects.filter(client_msg_id=services.reply_id(message.pk)).count()


@pytest.fixture
def model_calls(monkeypatch: Any) -> list[list[str]]:
    """The texts of each call of the served model (``classify_many``, counted; with
    no model active it answers ``None`` and the bot its fallback, which is enough
    to count calls without training one on this shared machine)."""
    calls: list[list[str]] = []
    classify = serving.classify_many

    def counted(texts: list[str]) -> Any:
        calls.append(list(texts))
        return classify(texts)

    monkeypatch.setattr(services, "classify_many", counted)
    return calls


def test_it_answers_every_waiting_message_in_one_call_of_the_model(model_calls):
    asked = [
        customer_says(ConversationFactory.create(), text)
        for text in ("do you ship to canada?", "whats your returns window", "hi")
    ]

    reply = services.bot_replies(message_id=asked[1].pk, size=16)

    assert reply is not None and reply.client_msg_id == services.reply_id(asked[1].pk)
    assert [sorted(call) for call in model_calls] == [sorted(m.text for m in asked)]
    assert [replies_to(m) for m in asked] == [1, 1, 1]
    assert not PendingReply.objects.exists()
    # The other messages' own tasks run later and find nothing left to do.
    assert services.bot_replies(message_id=asked[0].pk, size=16) is None
    assert len(model_calls) == 1
    assert [replies_to(m) for m in asked] == [1, 1, 1]


def test_a_batch_takes_at_most_its_size_oldest_first():
    asked = [customer_says(ConversationFactory.create(), "hello") for _ in range(4)]

    services.bot_replies(message_id=asked[3].pk, size=2)

    assert [replies_to(m) for m in asked] == [1, 0, 0, 1]


def test_two_messages_of_one_conversation_in_a_batch_are_answered_in_order():
    conversation = ConversationFactory.create()
    first = customer_says(conversation, "hello")
    second = customer_says(conversation, "thanks")

    services.bot_replies(message_id=second.pk, size=16)

    bot = list(conversation.messages.filter(sender=Message.Sender.BOT).order_by("seq"))
    assert [m.client_msg_id for m in bot] == [
        services.reply_id(first.pk),
        services.reply_id(second.pk),
    ]


def test_a_batch_leaves_alone_a_reply_another_worker_is_computing():
    mine = customer_says(ConversationFactory.create(), "hello")
    theirs = customer_says(ConversationFactory.create(), "hello")
    now = timezone.now()
    assert PendingReply.objects.claim(
        first=theirs.pk, size=1, now=now, lease=LEASE
    ) == [theirs.pk]

    services.bot_replies(message_id=mine.pk, size=16)
    assert replies_to(theirs) == 0
    # Its own task, run meanwhile, waits for the other worker too.
    assert services.bot_replies(message_id=theirs.pk, size=16) is None
    assert replies_to(theirs) == 0

    # The other worker died: once its lease ran out, the reply is taken again.
    PendingReply.objects.filter(message=theirs).update(claimed_until=now - LEASE)
    services.bot_replies(message_id=theirs.pk, size=16)
    assert replies_to(theirs) == 1


def test_the_sweep_does_not_enqueue_again_a_reply_in_a_live_batch(monkeypatch):
    from chatbot import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.reply_to_message, "delay", sent.append)
    computing = customer_says(ConversationFactory.create(), "hello")
    lost = customer_says(ConversationFactory.create(), "hello")
    PendingReply.objects.update(due=timezone.now() - timedelta(seconds=1))
    PendingReply.objects.claim(
        first=computing.pk, size=1, now=timezone.now(), lease=LEASE
    )

    assert services.pending_replies_sweep() == 1
    assert sent == [lost.pk]


def test_a_message_that_fails_in_a_batch_is_given_back_and_the_rest_answered(
    monkeypatch,
):
    mine = customer_says(ConversationFactory.create(), "hello")
    broken = customer_says(ConversationFactory.create(), "this one breaks")
    decide = services.decide

    def failing(incoming: Any, *args: Any, **kwargs: Any) -> Any:
        if incoming.text == "this one breaks":
            raise RuntimeError("a bug deciding this message")
        return decide(incoming, *args, **kwargs)

    monkeypatch.setattr(services, "decide", failing)

    assert services.bot_replies(message_id=mine.pk, size=16) is not None
    assert replies_to(broken) == 0
    # Still owed, and free for its own task (which retries it) to take at once.
    assert PendingReply.objects.get(message=broken).claimed_until is None

    with pytest.raises(RuntimeError):
        services.bot_replies(message_id=broken.pk, size=16)
    assert PendingReply.objects.get(message=broken).claimed_until is None
