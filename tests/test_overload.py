"""A saturated bot degrades instead of collapsing (#14): real uvicorn, a worker that
is not there yet (as slow as a worker can be), then one that answers in batches.

While the replies wait in the queue, every message is acked, the customer sees the
assistant typing and, past ``REPLY_BUSY_AFTER_SECONDS``, the ``busy`` frame with the
option of a person; once a worker runs, every message is answered exactly once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chatbot.models import Message, PendingReply
from chatbot.services import reply_id
from tests.live import (
    Process,
    child_env,
    receive_until,
    start_web,
    web_process,
    worker_process,
    ws_connect,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOPPERS = 4


@pytest.fixture
def own_redis_env(tmp_path: Path) -> dict[str, str]:
    """The children's environment on a Redis database of their own: the session's
    live stack (if a test started it) has a worker on the shared one, which would
    answer at once the messages this test needs to wait."""
    env = child_env()
    env["REDIS_URL"] = urlsplit(env["REDIS_URL"])._replace(path="/6").geturl()
    env["REPLY_BUSY_AFTER_SECONDS"] = "2"
    return env


@pytest.fixture
def stack(
    own_redis_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[int, Process]]:
    """A web server, and a worker on the same Redis left for the test to start.

    No intent model is active: the bot answers with its fallback, which is all the
    overload behaviour needs (and spares a training run)."""
    import redis

    redis.Redis.from_url(own_redis_env["REDIS_URL"]).flushdb()
    web, port = web_process(tmp_path)
    worker = worker_process(tmp_path, queues="inference")
    try:
        start_web(web, port, own_redis_env)
        yield port, worker
    finally:
        web.stop()
        worker.stop()


async def shopper(port: int, n: int) -> tuple[Any, str]:
    ws = await ws_connect(port)
    while json.loads(await ws.recv())["type"] != "status":
        pass
    client_msg_id = f"overload-{n}"
    await ws.send(
        json.dumps(
            {"type": "message", "client_msg_id": client_msg_id, "text": "do you ship?"}
        )
    )
    return ws, client_msg_id


async def frames_for(ws: Any, seconds: float) -> list[dict[str, Any]]:
    frames = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return frames


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    return [
        f"{f['type']}:{f.get('sender', '')}"
        if f["type"] in ("message", "typing")
        else f["type"]
        for f in frames
    ]


async def test_a_saturated_bot_acks_shows_typing_then_busy_and_answers_once(
    stack: tuple[int, Process], own_redis_env: dict[str, str]
) -> None:
    port, worker = stack
    crowd = await asyncio.gather(*(shopper(port, n) for n in range(SHOPPERS)))

    # No worker yet: the replies wait in the queue, the web server does not.
    waiting = await asyncio.gather(
        *(receive_until(ws, lambda f: f["type"] == "busy") for ws, _ in crowd)
    )
    for frames, (_, client_msg_id) in zip(waiting, crowd, strict=True):
        seen = kinds(frames)
        assert seen[0] == "ack" and frames[0]["client_msg_id"] == client_msg_id, seen
        assert "typing:bot" in seen
        busy = [f for f in frames if f["type"] == "busy"]
        assert len(busy) == 1 and busy[0]["client_msg_id"] == client_msg_id
        assert busy[0]["quick_replies"][0]["payload"] == {"action": "handoff"}
        assert "message:bot" not in seen  # nothing answered it: no worker ran
    assert await owed() == SHOPPERS

    worker.start(own_redis_env)
    answered = await asyncio.gather(*(frames_for(ws, 60.0) for ws, _ in crowd))
    for frames in answered:
        seen = kinds(frames)
        assert seen.count("message:bot") == 1
        # Once answered, the socket stops saying the bot is typing or busy.
        after = seen[seen.index("message:bot") + 1 :]
        assert "busy" not in after and "typing:bot" not in after
    for ws, _ in crowd:
        await ws.close()

    assert await owed() == 0
    for _, client_msg_id in crowd:
        assert await replies_to(client_msg_id) == 1


async def owed() -> int:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(PendingReply.objects.count)()


async def replies_to(client_msg_id: str) -> int:
    from channels.db import database_sync_to_async

    def count() -> int:
        message = Message.objects.get(client_msg_id=client_msg_id)
        return Message.objects.filter(client_msg_id=reply_id(message.pk)).count()

    return await database_sync_to_async(count)()
