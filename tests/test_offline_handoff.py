"""Handing over with nobody online: no estimate anywhere, an email taken, and the
first agent's reply emailed to the customer with a signed link back to the chat.

Real PostgreSQL and Redis; mail goes to Django's in-memory outbox (pytest-django's
locmem backend); the link is opened over a real websocket (``WebsocketCommunicator``).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import mail, signing
from django.utils import timezone

from chatbot import selectors, services
from chatbot.console import services as console
from chatbot.dialogue.shop import WEEKDAYS
from chatbot.models import Conversation, Message
from chatbot.models.conversations import LINK_SALT
from config.asgi import application
from tests.chat import said
from tests.factories import (
    ALWAYS_OPEN,
    NEVER_OPEN,
    AgentFactory,
    ConversationFactory,
    CustomerFactory,
    MessageFactory,
    shop_hours,
)

LINK = re.compile(r"#concierge-resume=(\S+)")


def asked_for_a_person(conversation: Conversation) -> Message | None:
    pressed = MessageFactory.create(
        conversation=conversation,
        text="Talk to a person",
        payload={"postback": {"action": "handoff"}},
    )
    return services.bot_reply(message_id=pressed.pk)


# --- what the customer is told ----------------------------------------------------


@pytest.mark.django_db
def test_open_with_nobody_online_neither_reply_nor_status_promise_a_wait():
    shop_hours(ALWAYS_OPEN)
    ConversationFactory.create(status=Conversation.Status.WAITING_FOR_AGENT)
    conversation = ConversationFactory.create()
    reply = asked_for_a_person(conversation)
    conversation.refresh_from_db()
    frame = selectors.status_frame(conversation)
    assert reply is not None and said("handoff_no_agents", reply.text)
    assert conversation.status == Conversation.Status.WAITING_FOR_AGENT
    assert frame["agents_online"] == 0
    assert frame["queue_position"] is None
    assert frame["expected_wait_seconds"] is None
    assert selectors.queue_estimate().wait_seconds == 0


@pytest.mark.django_db
def test_closed_it_says_so_with_the_shops_own_hours_and_takes_an_email():
    # Open one day only, two days from now: closed whenever the test runs.
    day = timezone.now().astimezone(ZoneInfo("Europe/Berlin")) + timedelta(days=2)
    shop_hours(
        NEVER_OPEN | {WEEKDAYS[day.weekday()]: "09:00-17:00"}, timezone="Europe/Berlin"
    )
    conversation = ConversationFactory.create()
    reply = asked_for_a_person(conversation)
    assert reply is not None and said("handoff_closed", reply.text)
    assert f"{day:%A} 09:00 (Europe/Berlin)" in reply.text
    assert "ET" not in reply.text  # no hours written into a template any more
    email = MessageFactory.create(conversation=conversation, text="alice@example.org")
    saved = services.bot_reply(message_id=email.pk)
    conversation.refresh_from_db()
    assert saved is not None and said("handoff_email_saved", saved.text)
    assert conversation.state["followup_email"] == "alice@example.org"
    # Still in the queue, for the first agent who comes online.
    assert conversation.status == Conversation.Status.WAITING_FOR_AGENT


# --- the agent's reply, by email ----------------------------------------------------


def left_an_email(address: str = "alice@example.org") -> Conversation:
    return ConversationFactory.create(
        customer=CustomerFactory.create(name="Alice", email=""),
        status=Conversation.Status.WAITING_FOR_AGENT,
        state={"followup_email": address, "handoff": {"reason": "asked for a person"}},
    )


def reply_as_agent(conversation: Conversation, text: str) -> Message:
    bob = AgentFactory.create(username="bob")
    console.conversation_take(conversation_id=conversation.pk, agent=bob)
    return console.conversation_reply(
        conversation_id=conversation.pk, agent=bob, text=text
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
def test_an_agent_reply_is_emailed_with_a_link_back_to_the_conversation(
    django_capture_on_commit_callbacks: Any,
):
    conversation = left_an_email()
    with django_capture_on_commit_callbacks(execute=True):
        message = reply_as_agent(conversation, "Hi Alice, your parcel left today.")
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["alice@example.org"]
    assert "Hi Alice, your parcel left today." in sent.body
    assert "bob" in sent.body
    link = LINK.search(str(sent.body))
    assert link is not None
    assert Conversation.from_link_token(link.group(1)) == conversation
    message.refresh_from_db()
    assert message.emailed is not None


@pytest.mark.django_db
def test_a_reply_is_emailed_once_however_often_the_task_runs():
    conversation = left_an_email()
    message = reply_as_agent(conversation, "We're on it.")
    assert console.agent_reply_email(message_id=message.pk) is True
    assert console.agent_reply_email(message_id=message.pk) is False
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
def test_no_email_goes_to_a_customer_who_left_no_address(
    django_capture_on_commit_callbacks: Any,
):
    conversation = ConversationFactory.create(
        status=Conversation.Status.WAITING_FOR_AGENT
    )
    with django_capture_on_commit_callbacks(execute=True):
        message = reply_as_agent(conversation, "Hello!")
    assert mail.outbox == []
    assert console.agent_reply_email(message_id=message.pk) is False


# --- the link reopens that conversation, and only with a valid signature -------------


async def hello(**fields: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    ws = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"http://testserver")]
    )
    connected, _ = await ws.connect()
    assert connected
    await ws.send_json_to({"type": "hello", **fields})
    return ws, await ws.receive_json_from(timeout=10)


@database_sync_to_async
def alices_conversation() -> Conversation:
    conversation = left_an_email()
    MessageFactory.create(conversation=conversation, text="where is my parcel?")
    return conversation


transactional = pytest.mark.django_db(transaction=True)


@transactional
async def test_the_link_opens_the_conversation_in_a_new_browser():
    conversation = await alices_conversation()
    # A browser that has never seen Alice: no token, no conversation, only the link.
    ws, session = await hello(resume=conversation.link_token())
    await ws.disconnect()
    assert session["type"] == "session"
    assert session["conversation"] == conversation.public_id
    customer = await database_sync_to_async(
        lambda: type(conversation.customer).from_token(session["token"])
    )()
    assert customer is not None and customer.pk == conversation.customer_id


@transactional
async def test_a_tampered_link_is_refused():
    conversation = await alices_conversation()
    token = conversation.link_token()
    _, rest = token.split(":", 1)
    charlies_guess = signing.b64_encode(b'"another-conversation-id"').decode()
    for forged in [
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        f"{charlies_guess}:{rest}",
        conversation.public_id,
    ]:
        ws, answer = await hello(resume=forged)
        await ws.disconnect()
        assert answer == {
            "type": "error",
            "code": "link_invalid",
            "message": "This link has expired or is not valid",
        }


@transactional
async def test_an_expired_link_is_refused(monkeypatch: Any):
    conversation = await alices_conversation()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 8 * 24 * 3600)
    old = conversation.link_token()  # signed eight days ago
    monkeypatch.undo()
    ws, answer = await hello(resume=old)
    await ws.disconnect()
    assert answer["code"] == "link_invalid"
    # A fresh link for the same conversation works: only the age was wrong.
    ws, session = await hello(resume=conversation.link_token())
    await ws.disconnect()
    assert session["conversation"] == conversation.public_id


@transactional
async def test_a_customer_token_is_not_a_link():
    conversation = await alices_conversation()
    customer = await database_sync_to_async(lambda: conversation.customer)()
    # Signed by the same server, but for another purpose (salt): no conversation.
    assert signing.loads(customer.token, salt="chatbot.customer")
    assert LINK_SALT != "chatbot.customer"
    ws, answer = await hello(resume=customer.token)
    await ws.disconnect()
    assert answer["code"] == "link_invalid"
