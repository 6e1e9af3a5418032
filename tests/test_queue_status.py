"""What a customer waiting for a person is told about the queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chatbot import selectors
from chatbot.models import Conversation
from tests.factories import AgentPresenceFactory, ConversationFactory

pytestmark = pytest.mark.django_db


def waiting(minutes_ago: int) -> Conversation:
    return ConversationFactory.create(
        status=Conversation.Status.WAITING_FOR_AGENT,
        waiting_since=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_with_nobody_online_no_place_or_wait_is_promised():
    older, newer = waiting(5), waiting(1)
    for frame in [
        selectors.status_frame(newer),
        dict(selectors.queue_status_frames())[newer],
    ]:
        assert frame["agents_online"] == 0
        assert frame["queue_position"] is None
        assert frame["expected_wait_seconds"] is None
    assert older.pk  # the queue is not empty: the estimate is withheld, not zero


def test_with_an_agent_online_it_gives_place_and_wait():
    AgentPresenceFactory.create()
    waiting(5)
    newer = waiting(1)
    for frame in [
        selectors.status_frame(newer),
        dict(selectors.queue_status_frames())[newer],
    ]:
        assert frame["agents_online"] == 1
        assert frame["queue_position"] == 2
        assert frame["expected_wait_seconds"] > 0
