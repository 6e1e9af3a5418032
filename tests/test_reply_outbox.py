"""No reply is ever lost: the outbox in PostgreSQL, the sweep, retries, late replies.

In-process, on real PostgreSQL; the fault suite (tests/faults/) shows the same with
real workers killed and Redis stopped.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from chatbot import services, tasks
from chatbot.models import Conversation, Message, PendingReply
from tests.chat import said
from tests.factories import ConversationFactory, StaffFactory

pytestmark = pytest.mark.django_db


def customer_says(conversation: Conversation, text: str = "hello?") -> Message:
    message, _ = services.message_store(
        conversation_id=conversation.pk, sender=Message.Sender.CUSTOMER, text=text
    )
    return message


def bot_replies(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(sender=Message.Sender.BOT))


@pytest.fixture
def enqueued(monkeypatch: Any) -> list[int]:
    """The reply tasks sent to the broker (recorded instead of sent)."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.reply_to_message, "delay", sent.append)
    return sent


def overdue(message: Message) -> None:
    PendingReply.objects.filter(message=message).update(
        due=timezone.now() - timedelta(seconds=1)
    )


def test_a_stored_customer_message_owes_a_reply_until_the_bot_answers():
    conversation = ConversationFactory.create()
    message = customer_says(conversation)
    pending = PendingReply.objects.get(message=message)
    assert pending.due > timezone.now() + timedelta(seconds=5)
    services.bot_reply(message_id=message.pk)
    assert not PendingReply.objects.filter(message=message).exists()
    assert len(bot_replies(conversation)) == 1


def test_a_message_to_an_agent_owes_no_bot_reply():
    bob = StaffFactory.create()
    conversation = ConversationFactory.create()
    conversation.take(agent_id=bob.pk)
    customer_says(conversation)
    assert not PendingReply.objects.exists()


def test_it_stores_the_message_even_when_the_broker_refuses_the_task(monkeypatch):
    def broker_down(message_id: int) -> None:
        raise ConnectionRefusedError("redis is away")

    monkeypatch.setattr(tasks.reply_to_message, "delay", broker_down)
    conversation = ConversationFactory.create()
    message = customer_says(conversation)
    services.reply_enqueue(message.pk)  # what on_commit runs: it must not raise
    assert PendingReply.objects.filter(message=message).exists()


def test_the_sweep_enqueues_an_overdue_reply_again_and_waits_longer_each_time(
    enqueued,
):
    conversation = ConversationFactory.create()
    message = customer_says(conversation)
    assert services.pending_replies_sweep() == 0  # not due yet
    overdue(message)
    assert services.pending_replies_sweep() == 1
    assert enqueued == [message.pk]
    first = PendingReply.objects.get(message=message)
    overdue(message)
    services.pending_replies_sweep()
    second = PendingReply.objects.get(message=message)
    assert second.attempts == 2
    assert second.due - timezone.now() > (first.due - timezone.now()) * 1.5
    assert enqueued == [message.pk, message.pk]
    services.bot_reply(message_id=message.pk)  # the task finally ran
    overdue(message)
    assert services.pending_replies_sweep() == 0


def test_after_its_last_attempt_the_sweep_says_the_reply_is_late_once(enqueued):
    conversation = ConversationFactory.create()
    message = customer_says(conversation)
    PendingReply.objects.filter(message=message).update(
        attempts=settings.REPLY_MAX_ATTEMPTS, due=timezone.now()
    )
    services.pending_replies_sweep()
    conversation.refresh_from_db()
    (late,) = bot_replies(conversation)
    assert said("late_reply", late.text, within=True)
    assert conversation.status == Conversation.Status.WAITING_FOR_AGENT
    assert conversation.state["handoff"]["reason"] == "no reply in time"
    assert not PendingReply.objects.exists()
    # The original task, redelivered at last, finds the message answered.
    assert services.bot_reply(message_id=message.pk) is None
    assert len(bot_replies(conversation)) == 1


def test_a_reply_task_that_keeps_failing_retries_then_says_the_reply_is_late(
    monkeypatch, eager_tasks
):
    calls: list[int] = []

    def model_fails_to_load(*, message_id: int, size: int) -> None:
        calls.append(message_id)
        raise OSError("the model's artifact is unreadable")

    # The task's service: its message and what else is waiting (micro-batching).
    monkeypatch.setattr(services, "bot_replies", model_fails_to_load)
    conversation = ConversationFactory.create()
    message = customer_says(conversation)
    tasks.reply_to_message.delay(message.pk)
    assert len(calls) == tasks.REPLY_RETRIES + 1
    (late,) = bot_replies(conversation)
    assert said("late_reply", late.text, within=True)
    assert not PendingReply.objects.exists()


def test_a_reply_task_that_fails_once_still_answers(monkeypatch, eager_tasks):
    real = services.bot_replies
    failures = [ConnectionError("cache unreachable")]

    def flaky(*, message_id: int, size: int) -> Message | None:
        if failures:
            raise failures.pop()
        return real(message_id=message_id, size=size)

    monkeypatch.setattr(services, "bot_replies", flaky)
    conversation = ConversationFactory.create()
    message = customer_says(conversation)
    tasks.reply_to_message.delay(message.pk)
    (reply,) = bot_replies(conversation)
    assert not said("late_reply", reply.text, within=True)


def test_every_wait_stays_below_the_brokers_visibility_timeout():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    waits = [tasks.retry_countdown(n) for n in range(tasks.REPLY_RETRIES + 1)]
    assert max(waits) < visibility
    longest_sweep_wait = settings.REPLY_SWEEP_AFTER_SECONDS * 2 ** (
        settings.REPLY_MAX_ATTEMPTS
    )
    assert longest_sweep_wait < visibility


@pytest.mark.parametrize(
    "task", ["classifier.tasks.train_intents", "recommender.tasks.train_recommender"]
)
def test_a_training_task_is_time_limited_and_never_redelivered_forever(task):
    module, name = task.rsplit(".", 1)
    found = getattr(importlib.import_module(module), name)
    assert 0 < found.soft_time_limit < found.time_limit
    # Acknowledged on start: a run killed for memory does not come back again
    # and again; a database error is retried twice at most.
    assert found.acks_late is False
    assert found.max_retries == 2
