"""Nothing acknowledged is lost or doubled, whatever process dies.

Each test drives shoppers over real websockets against the fault stack (real
uvicorn, Celery worker and beat, PostgreSQL, Redis), breaks one part, and then
checks, from the database and from each shopper's transcript, that every
acknowledged message is stored once and answered once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import FaultStack
from tests.faults.shopper import Shopper

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

QUESTIONS = [
    "where is my order?",
    "do you ship to Canada",
    "my parcel never arrived!!",
    "can I return shoes I wore once",
]


async def shoppers(stack: FaultStack, count: int) -> list[Shopper]:
    crowd = [Shopper(stack.port) for _ in range(count)]
    for shopper in crowd:
        await shopper.connect()
    return crowd


async def everyone_says(crowd: list[Shopper], turn: int) -> None:
    for i, shopper in enumerate(crowd):
        await shopper.say(f"{QUESTIONS[(i + turn) % len(QUESTIONS)]} ({turn})")


async def everyone_says_during_an_outage(
    crowd: list[Shopper], *, seconds: float
) -> None:
    """Each shopper sends a message, then they all keep reading (and reconnecting)
    for ``seconds`` while something is down."""
    stopped = time.monotonic()
    await everyone_says(crowd, 1)
    while time.monotonic() - stopped < seconds:
        await asyncio.gather(
            *(shopper.read(1.0) for shopper in crowd), return_exceptions=True
        )


async def read_all(crowd: list[Shopper], seconds: float) -> None:
    await asyncio.gather(*(shopper.read(seconds) for shopper in crowd))


def unanswered(stack: FaultStack, crowd: list[Shopper]) -> list[str]:
    """Acknowledged messages with no bot reply yet."""
    acked = [cmid for shopper in crowd for cmid in shopper.acked]
    rows = stack.query(
        """
        SELECT m.client_msg_id FROM chatbot_message m
        WHERE m.client_msg_id = ANY(%s) AND NOT EXISTS (
            SELECT 1 FROM chatbot_message r
            WHERE r.conversation_id = m.conversation_id
              AND r.client_msg_id = 'reply-to:' || m.id)
        """,
        acked,
    )
    return [str(row[0]) for row in rows]


async def assert_nothing_lost(
    stack: FaultStack, crowd: list[Shopper], *, within: float = 30.0
) -> None:
    """Every message is acknowledged, stored once, answered once; every transcript
    matches the database."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while any(shopper.outbox for shopper in crowd) or unanswered(stack, crowd):
        assert loop.time() < deadline, (
            f"after {within} s: unacknowledged "
            f"{[len(s.outbox) for s in crowd]}, unanswered "
            f"{unanswered(stack, crowd)}"
        )
        await read_all(crowd, 0.5)
    for shopper in crowd:
        rows = stack.query(
            """
            SELECT m.seq, m.sender, m.text, m.client_msg_id FROM chatbot_message m
            JOIN chatbot_conversation c ON c.id = m.conversation_id
            WHERE c.public_id = %s ORDER BY m.seq
            """,
            shopper.conversation,
        )
        stored = {str(row[3]): int(row[0]) for row in rows if row[1] == "customer"}
        assert stored == shopper.acked  # each once, at the seq acknowledged
        replies = [row for row in rows if str(row[3]).startswith("reply-to:")]
        assert len(replies) == len({row[3] for row in replies}) == len(stored)
        assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
        # The transcript, completed by a resync, is exactly what was stored.
        await shopper.connect()
        await shopper.read(1.0)
        assert {
            seq: (f["sender"], f["text"]) for seq, f in shopper.transcript.items()
        } == {int(row[0]): (row[1], row[2]) for row in rows}


async def test_a_killed_worker_loses_no_reply(fault_stack: FaultStack) -> None:
    crowd = await shoppers(fault_stack, 4)
    for turn in range(4):  # a backlog, so that the worker is busy when it dies
        await everyone_says(crowd, turn)
    await fault_stack.kill_worker_mid_task()
    await read_all(crowd, 1.0)
    fault_stack.start_worker()
    await assert_nothing_lost(fault_stack, crowd)


async def test_a_reply_survives_redis_stopping_around_the_send(
    fault_stack: FaultStack,
) -> None:
    crowd = await shoppers(fault_stack, 3)
    await everyone_says(crowd, 0)
    await read_all(crowd, 0.3)
    fault_stack.redis.stop()
    await everyone_says_during_an_outage(crowd, seconds=10)
    # PostgreSQL could store them, so they were acknowledged with Redis away.
    assert all(len(shopper.acked) == 2 for shopper in crowd)
    fault_stack.redis.start()
    await assert_nothing_lost(fault_stack, crowd, within=45.0)


async def test_an_asgi_server_restart_loses_nothing(fault_stack: FaultStack) -> None:
    crowd = await shoppers(fault_stack, 3)
    await everyone_says(crowd, 0)
    await read_all(crowd, 0.3)
    fault_stack.web.kill()
    await everyone_says(crowd, 1)  # into the void: they stay in the outboxes
    fault_stack.start_web()
    await read_all(crowd, 1.0)
    await assert_nothing_lost(fault_stack, crowd)


async def test_postgres_unreachable_for_five_seconds_loses_nothing(
    fault_stack: FaultStack,
) -> None:
    crowd = await shoppers(fault_stack, 3)
    await everyone_says(crowd, 0)
    await read_all(crowd, 0.3)
    fault_stack.pg.stop()
    await everyone_says_during_an_outage(crowd, seconds=5)
    # Nothing could be stored, so nothing was acknowledged: it waits in the outboxes.
    assert all(len(shopper.acked) == 1 for shopper in crowd)
    fault_stack.pg.start()
    await assert_nothing_lost(fault_stack, crowd, within=45.0)


async def test_a_client_that_stops_reading_holds_up_no_one(
    fault_stack: FaultStack,
) -> None:
    stuck = Shopper(fault_stack.port)
    await stuck.connect()
    # It sends and never reads again: the server's frames to it pile up.
    for turn in range(20):
        await stuck.say(f"hello? ({turn})")
    crowd = await shoppers(fault_stack, 3)
    await everyone_says(crowd, 0)
    await assert_nothing_lost(fault_stack, crowd)
    # What it sent was stored and answered all the same, once it reads again.
    await assert_nothing_lost(fault_stack, [stuck])
