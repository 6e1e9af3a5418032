"""Nobody online, end to end: real server and worker, the demo model, mail in files.

Alice asks for a person while no agent is online, leaves her email and closes the
tab; Bob comes online and answers from the console; the worker emails his reply
(the live stack's mail lands in files, ``tests.live.sent_mail``), and the link in
it opens Alice's conversation in a browser that has never seen her.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from channels.db import database_sync_to_async

from chatbot.console import services as console
from chatbot.models import Conversation
from tests.chat import Customer, said
from tests.factories import ALWAYS_OPEN, AgentFactory, shop_hours
from tests.live import receive_until, sent_mail, ws_connect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"#concierge-resume=(\S+)")


@pytest.fixture
def shop(live_stack, active_intent_model):
    shop_hours(ALWAYS_OPEN)
    return live_stack


@database_sync_to_async
def bob_replies(public_id: str, text: str) -> None:
    bob = AgentFactory.create(username="bob")
    conversation = Conversation.objects.get(public_id=public_id)
    console.conversation_take(conversation_id=conversation.pk, agent=bob)
    console.conversation_reply(conversation_id=conversation.pk, agent=bob, text=text)


async def mail_to(address: str) -> str:
    for _ in range(300):
        if mails := sent_mail(address):
            return mails[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail to {address}")


async def test_the_first_agents_reply_is_emailed_and_its_link_reopens_the_chat(shop):
    async with Customer(shop.port) as alice:
        offline = await alice.say("can I talk to a real person please")
        saved = await alice.say("it's alice.offline@example.com")
        conversation = alice.session["conversation"]
    assert said("handoff_no_agents", offline["text"])
    assert said("handoff_email_saved", saved["text"])
    waiting = [s for s in alice.statuses if s["status"] == "waiting_for_agent"]
    assert waiting, alice.statuses
    assert all(s["queue_position"] is None for s in waiting)
    assert all(s["expected_wait_seconds"] is None for s in waiting)

    await bob_replies(conversation, "Hi Alice, your parcel is with the courier.")
    mail = await mail_to("alice.offline@example.com")
    assert "Hi Alice, your parcel is with the courier." in mail
    link = LINK.search(mail)
    assert link is not None

    # A browser that has never seen Alice opens the link.
    async with ws_connect(shop.port, hello=False) as ws:
        await ws.send(json.dumps({"type": "hello", "resume": link.group(1)}))
        frames = await receive_until(ws, lambda f: f["type"] == "status")
    session = frames[0]
    assert session["type"] == "session"
    assert session["conversation"] == conversation
    assert frames[-1]["status"] == "with_agent"
