"""The walking skeleton through every layer, with real server and worker processes."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chatbot.models import Message
from tests.live import receive_until, ws_connect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def test_it_stores_a_message_and_the_worker_answers_through_the_channel_layer(
    live_stack,
):
    async with ws_connect(live_stack.port) as ws:
        frames = await receive_until(ws, lambda f: f["type"] == "status")
        session = frames[0]
        assert session["type"] == "session"
        await ws.send(
            '{"type": "message", "client_msg_id": "m-1", "text": "Where is my order?"}'
        )
        frames = await receive_until(
            ws, lambda f: f["type"] == "message" and f["sender"] == "bot"
        )

    ack = next(f for f in frames if f["type"] == "ack")
    assert ack == {"type": "ack", "client_msg_id": "m-1", "seq": 1}
    bot = frames[-1]
    assert bot["seq"] == 2
    assert bot["text"]

    stored = await stored_messages(session["conversation"])
    assert stored[0] == (1, "customer", "Where is my order?")
    assert stored[1][:2] == (2, "bot")


@database_sync_to_async
def stored_messages(public_id: str) -> list[tuple[int, str, str]]:
    return list(
        Message.objects.filter(conversation__public_id=public_id)
        .order_by("seq")
        .values_list("seq", "sender", "text")
    )
