"""``bot_reply`` applies the policy's decision in one short transaction.

Real PostgreSQL; no intent model is active, so the turns below are ones the policy
decides without one (a form's confirmation button, a follow-up email).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.utils import timezone

from chatbot import services
from chatbot.dialogue import limits
from chatbot.dialogue.decision import LookupKeys
from chatbot.models import Conversation, Message, Order, OrderActionCode, ReturnRequest
from tests.chat import said
from tests.factories import (
    ALWAYS_OPEN,
    ConversationFactory,
    MessageFactory,
    OrderFactory,
    StaffFactory,
    shop_hours,
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


def asking_code(form: str, order: Order) -> dict[str, Any]:
    """A dialogue state in which the bot has mailed a code for ``form``."""
    state = confirming(form, order)
    state["form"].update(
        asking="code",
        codes_sent=1,
        found=[order.number, order.email],
    )
    state["form"]["slots"]["confirm"] = True
    return state


def pressed_yes(conversation: Conversation) -> Message:
    return MessageFactory.create(
        conversation=conversation,
        text="Yes",
        payload={"postback": {"confirm": True}},
    )


def mailed_code(order: Order, action: str) -> tuple[Conversation, str]:
    """A conversation waiting for the code, and the code in the order's mailbox."""
    conversation = ConversationFactory.create(state=asking_code(action, order))
    _, code = OrderActionCode.issue(
        order_id=order.pk, action=action, now=timezone.now()
    )
    return conversation, code


def typed(conversation: Conversation, text: str) -> Message:
    return MessageFactory.create(conversation=conversation, text=text)


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
    conversation, code = mailed_code(order, "cancel")
    reply = services.bot_reply(message_id=typed(conversation, code).pk)
    assert reply is not None and said("cancel_done", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    conversation.refresh_from_db()
    assert "form" not in conversation.state
    assert conversation.state["last_form"]["name"] == "cancel"
    assert OrderActionCode.objects.get(order=order).used is not None


def test_a_confirmation_mails_a_code_to_the_order_and_changes_nothing(answer):
    order = OrderFactory.create(number="NW-10238", email="carla@example.com")
    conversation = ConversationFactory.create(state=confirming("cancel", order))
    reply = answer(pressed_yes(conversation))
    assert reply is not None and said("code_sent", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    (sent,) = mail.outbox
    assert sent.to == ["carla@example.com"]
    (code,) = re.findall(r"\b\d{6}\b", str(sent.body))
    stored = OrderActionCode.objects.get(order=order, action="cancel")
    assert code not in stored.code_hash and stored.matches(code)
    assert stored.expires > timezone.now() + timedelta(minutes=10)


def test_a_wrong_code_changes_nothing_and_is_counted(answer):
    order = OrderFactory.create(number="NW-10238")
    conversation, code = mailed_code(order, "cancel")
    wrong = "000000" if code != "000000" else "111111"
    keys = LookupKeys(client=None, email=order.email, number=order.number)
    limits.forget(keys)
    reply = answer(typed(conversation, wrong))
    assert reply is not None and said("code_wrong", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert OrderActionCode.objects.get(order=order).attempts == 1
    assert cache_failures(keys) == {"email": 1, "number": 1}
    limits.forget(keys)


def test_an_expired_code_changes_nothing_and_a_new_one_is_mailed(answer):
    order = OrderFactory.create(number="NW-10238")
    conversation, code = mailed_code(order, "cancel")
    OrderActionCode.objects.update(expires=timezone.now())
    reply = answer(typed(conversation, code))
    assert reply is not None and said("code_resent", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    assert len(mail.outbox) == 1
    assert OrderActionCode.objects.filter(order=order).count() == 2


def test_a_spent_code_does_not_change_an_order_twice():
    order = OrderFactory.create(number="NW-10238")
    conversation, code = mailed_code(order, "cancel")
    OrderActionCode.objects.update(used=timezone.now())
    reply = services.bot_reply(message_id=typed(conversation, code).pk)
    assert reply is not None and not said("cancel_done", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_failed_lookups_across_conversations_make_the_next_one_wait(answer):
    keys = LookupKeys(client="198.51.100.23", email="victim@example.com", number="")
    limits.forget(keys)
    OrderFactory.create(number="NW-10250", email="victim@example.com")
    answers = []
    for number in range(10240, 10245):  # each a new conversation
        conversation = ConversationFactory.create(
            state={
                "form": {
                    "name": "cancel",
                    "slots": {"order_number": f"NW-{number}"},
                    "asking": "email",
                    "lookups": 0,
                    "misses": 0,
                }
            }
        )
        message = MessageFactory.create(
            conversation=conversation,
            text="victim@example.com",
            client_address="198.51.100.23",
        )
        reply = answer(message)
        assert reply is not None
        answers.append(reply.text)
    free = limits.LIMITS["email"].free
    assert all(said("order_not_found", text) for text in answers[:free])
    assert all(said("lookup_throttled", text) for text in answers[free:])
    assert (
        limits.lookup_wait(
            client="198.51.100.23", email="other@example.com", number="NW-10250"
        )
        == 0
    )  # another customer at another address is not held up
    limits.forget(keys)


@pytest.fixture
def answer(django_capture_on_commit_callbacks: Any) -> Any:
    """``bot_reply`` with its after-commit effects run (mail, lookup counts)."""

    def run(message: Message) -> Message | None:
        with django_capture_on_commit_callbacks(execute=True):
            return services.bot_reply(message_id=message.pk)

    return run


def cache_failures(keys: LookupKeys) -> dict[str, int]:
    from django.core.cache import cache

    stored = limits.cache_keys(keys)
    found = cache.get_many(list(stored.values()))
    return {kind: found[key][0] for kind, key in stored.items() if key in found}


@pytest.fixture
def smtp_server() -> Iterator[list[Any]]:
    """A real SMTP server on a free port; yields the envelopes it received."""
    received: list[Any] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    received.append(port)
    yield received
    controller.stop()


def test_the_code_goes_out_through_a_real_smtp_server(settings, smtp_server, answer):
    port = smtp_server.pop(0)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    order = OrderFactory.create(number="NW-10238", email="carla@example.com")
    conversation = ConversationFactory.create(state=confirming("cancel", order))
    reply = answer(pressed_yes(conversation))
    assert reply is not None and said("code_sent", reply.text)
    (envelope,) = smtp_server
    assert envelope.rcpt_tos == ["carla@example.com"]
    body = envelope.content.decode()
    (code,) = set(re.findall(r"\b\d{6}\b", body))
    assert OrderActionCode.objects.get(order=order).matches(code)
    # ...and that code, typed in the chat, cancels the order.
    done = services.bot_reply(message_id=typed(conversation, code).pk)
    assert done is not None and said("cancel_done", done.text)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED


def test_an_order_that_shipped_while_the_bot_decided_is_not_cancelled(decide_then):
    order = OrderFactory.create(number="NW-10238")
    conversation, code = mailed_code(order, "cancel")
    message = typed(conversation, code)
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
    conversation, code = mailed_code(order, "return")
    message = typed(conversation, code)
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
    conversation, code = mailed_code(order, "cancel")
    message = typed(conversation, code)

    def customer_gave_up_meanwhile() -> None:
        Conversation.objects.filter(pk=conversation.pk).update(state={})

    decisions = decide_then(customer_gave_up_meanwhile)
    reply = services.bot_reply(message_id=message.pk)
    assert len(decisions) == 2
    assert reply is not None and not said("cancel_done", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_a_handoff_queues_the_conversation_and_saves_the_follow_up_email():
    shop_hours(ALWAYS_OPEN)  # open, nobody online (closed is another answer)
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
