"""An attacker who knows a victim's email walks the order numbers: real server and
worker, a fresh connection (a new customer) for every guess.

Lookups are limited across conversations per address, email and number, so the
walk is refused after a few guesses; and knowing number and email is not enough to
cancel: the order changes only with the code mailed to its address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chatbot.dialogue import limits
from chatbot.dialogue.decision import LookupKeys
from chatbot.models import Order, OrderActionCode
from tests.chat import Customer, said
from tests.factories import OrderFactory
from tests.live import sent_mail

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VICTIM = "victim@example.com"
VICTIM_ORDER = 31250
WALK = range(VICTIM_ORDER - 25, VICTIM_ORDER + 25)


@pytest.fixture
def shop(live_stack, active_intent_model):
    return live_stack


@pytest.fixture
def victim_order(db: Any) -> Iterator[Order]:
    """Mallory knows the victim's email, not the order number."""
    keys = [
        LookupKeys(client="127.0.0.1", email=VICTIM, number=f"NW-{n}") for n in WALK
    ]
    for key in keys:
        limits.forget(key)
    yield OrderFactory.create(
        number=f"NW-{VICTIM_ORDER}", email=VICTIM, status=Order.Status.PLACED
    )
    for key in keys:  # the live stack is shared: leave no waits to other tests
        limits.forget(key)


@database_sync_to_async
def status(order: Order) -> str:
    order.refresh_from_db()
    return order.status


async def test_walking_order_numbers_is_stopped_before_the_victims(shop, victim_order):
    answers = []
    for number in WALK:
        async with Customer(shop.port) as mallory:  # a new customer each time
            await mallory.say(f"please cancel order NW-{number}")
            reply = await mallory.say(VICTIM)
        answers.append(reply)
        if number == VICTIM_ORDER:
            break
    misses = [a for a in answers if said("order_not_found", a["text"])]
    refused = [a for a in answers if said("lookup_throttled", a["text"])]
    assert len(misses) == limits.LIMITS["email"].free
    assert answers[: len(misses)] == misses  # refused from the fourth guess on
    assert len(refused) == len(answers) - len(misses)
    # The victim's own number got the same refusal as every made-up one.
    assert said("lookup_throttled", answers[-1]["text"])
    assert "quick_replies" not in answers[-1]["payload"]
    assert await status(victim_order) == Order.Status.PLACED


async def test_number_and_email_without_the_mailed_code_cancel_nothing(
    shop, victim_order
):
    # Mallory learnt both (a leaked receipt); the code goes to the victim's mailbox.
    async with Customer(shop.port) as mallory:
        await mallory.say(f"please cancel order NW-{VICTIM_ORDER}")
        confirm = await mallory.say(VICTIM)
        asked = await mallory.press(confirm["payload"]["quick_replies"][0])
        assert said("code_sent", asked["text"])
        guesses = [
            await mallory.say(f"{guess:06d}")
            for guess in range(OrderActionCode.MAX_ATTEMPTS * 2)
        ]
    assert said("code_wrong", guesses[0]["text"])
    assert any(said("code_failed", g["text"]) for g in guesses)
    assert await status(victim_order) == Order.Status.PLACED
    for _ in range(50):  # the worker mails after its commit
        if len(mails := sent_mail(VICTIM)) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(mails) == 2  # each code went to the victim, none to Mallory
    assert all(f"order NW-{VICTIM_ORDER}" in m for m in mails)
