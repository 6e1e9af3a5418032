"""The message contract end to end: real uvicorn servers, a real Celery worker."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async

from chatbot.models import Message
from tests.live import child_env, receive_until, start_web, web_process, ws_connect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def is_bot_message(frame: dict[str, Any]) -> bool:
    return frame["type"] == "message" and frame["sender"] == "bot"


async def open_session(
    port: int, *, token: str | None = None, conversation: str | None = None
) -> tuple[Any, dict[str, Any]]:
    ws = await ws_connect(port, token=token, conversation=conversation)
    frames = await receive_until(ws, lambda f: f["type"] == "status")
    return ws, frames[0]


async def send_message(ws: Any, client_msg_id: str, text: str) -> None:
    await ws.send(
        json.dumps({"type": "message", "client_msg_id": client_msg_id, "text": text})
    )


@database_sync_to_async
def stored(public_id: str) -> list[tuple[int, str, str | None]]:
    return list(
        Message.objects.filter(conversation__public_id=public_id)
        .order_by("seq")
        .values_list("seq", "sender", "client_msg_id")
    )


async def test_it_acks_only_what_another_connection_can_already_read(live_stack):
    ws, session = await open_session(live_stack.port)
    async with ws:
        await send_message(ws, "c-1", "Is this committed?")
        await receive_until(ws, lambda f: f["type"] == "ack")
        # Read from this process's own database connection, right at the ack.
        assert (1, "customer", "c-1") in await stored(session["conversation"])


async def test_it_stores_a_resent_message_once_and_acks_it_with_the_same_seq(
    live_stack,
):
    ws, session = await open_session(live_stack.port)
    async with ws:
        await send_message(ws, "same", "Hello")
        first = await receive_until(ws, lambda f: f["type"] == "ack")
        await receive_until(ws, is_bot_message)
        await send_message(ws, "same", "Hello")
        second = await receive_until(ws, lambda f: f["type"] == "ack")
    assert first[-1] == second[-1] == {"type": "ack", "client_msg_id": "same", "seq": 1}
    rows = await stored(session["conversation"])
    assert [r[2] for r in rows].count("same") == 1
    assert len(rows) == 2  # the message and one bot reply


async def test_it_resyncs_a_reconnecting_client_with_no_gap_and_no_duplicate(
    live_stack,
):
    ws, session = await open_session(live_stack.port)
    seen: dict[int, dict[str, Any]] = {}
    async with ws:
        await send_message(ws, "before-drop", "First")
        for frame in await receive_until(ws, is_bot_message):
            if frame["type"] == "message":
                seen[frame["seq"]] = frame
        # Drop the socket right after sending: the bot's reply is broadcast while
        # nobody listens, so only the resync can deliver it.
        await send_message(ws, "lost-reply", "Second")
        await receive_until(ws, lambda f: f["type"] == "ack")
    await asyncio.sleep(0.1)
    for _ in range(100):  # wait until the worker has stored the reply
        if len(await stored(session["conversation"])) == 4:
            break
        await asyncio.sleep(0.1)
    again, resumed = await open_session(
        live_stack.port, token=session["token"], conversation=session["conversation"]
    )
    async with again:
        assert resumed["conversation"] == session["conversation"]
        await again.send(json.dumps({"type": "resync", "since_seq": max(seen)}))
        replay = await receive_until(again, lambda f: f.get("seq") == 4)
    for frame in replay:
        assert frame["seq"] not in seen
        seen[frame["seq"]] = frame
    assert sorted(seen) == [1, 2, 3, 4]
    assert [seen[s]["sender"] for s in (1, 2, 3, 4)] == ["customer", "bot"] * 2


async def test_two_servers_on_one_redis_show_each_other_the_conversation(live_stack):
    second, port = web_process(live_stack.log_dir)
    env = await database_sync_to_async(child_env)()
    await asyncio.to_thread(start_web, second, port, env)
    try:
        a, session = await open_session(live_stack.port)
        b, joined = await open_session(
            port, token=session["token"], conversation=session["conversation"]
        )
        async with a, b:
            assert joined["conversation"] == session["conversation"]
            await send_message(a, "from-a", "Sent through server one")
            on_b = await receive_until(b, is_bot_message)
            assert next(f["text"] for f in on_b if f["type"] == "message") == (
                "Sent through server one"
            )
            await send_message(b, "from-b", "Sent through server two")
            on_a = await receive_until(
                a, lambda f: f["type"] == "message" and f["seq"] == 3
            )
            assert on_a[-1]["text"] == "Sent through server two"
    finally:
        second.stop()


async def test_an_oversized_frame_closes_that_socket_and_the_server_stays_up(
    live_stack,
):
    ws, _ = await open_session(live_stack.port)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        async with ws:
            await ws.send(json.dumps({"type": "message", "text": "x" * 70_000}))
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    ws, session = await open_session(live_stack.port)
    async with ws:
        assert session["type"] == "session"
