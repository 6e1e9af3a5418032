"""Cheap denial of service: rate limits on both sockets, per connection and per
client address, a paged resync, and a queue broadcast that costs the same few
queries however long the queue is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from chatbot import selectors
from chatbot.models import Conversation
from chatbot.services import queue_broadcast
from tests.factories import AgentPresenceFactory, ConversationFactory

# --- the queue under a mass handoff ----------------------------------------------


@pytest.mark.django_db
def test_it_tells_50_waiting_customers_their_place_in_a_fixed_few_queries(
    django_assert_max_num_queries,
):
    AgentPresenceFactory.create()
    start = timezone.now() - timedelta(hours=1)
    waiting = [
        ConversationFactory.create(
            status=Conversation.Status.WAITING_FOR_AGENT,
            waiting_since=start + timedelta(seconds=n),
        )
        for n in range(50)
    ]
    expected = {c.group_name: selectors.status_frame(c) for c in waiting}
    layer = get_channel_layer()
    assert layer is not None
    channel = async_to_sync(layer.new_channel)()
    for conversation in waiting:
        async_to_sync(layer.group_add)(conversation.group_name, channel)

    # One frame per conversation used to count the queue again: 4 queries each.
    with django_assert_max_num_queries(5):
        queue_broadcast()

    frames = [async_to_sync(layer.receive)(channel)["status"] for _ in waiting]
    assert [f["queue_position"] for f in frames] == list(range(1, 51))
    assert frames == list(expected.values())
