"""Non-trivial reads of the chat: the queue for a person, agents online."""

from __future__ import annotations

import math
from bisect import bisect_left
from datetime import timedelta
from typing import Any

from django.db.models import Avg, F
from django.utils import timezone

from chatbot.dialogue.decision import QueueEstimate
from chatbot.models import AgentPresence, Conversation

# A console that has not said "still here" for this long counts as offline.
PRESENCE_TIMEOUT = timedelta(seconds=90)
# Until agents have taken enough conversations to measure, assume this wait.
DEFAULT_WAIT_SECONDS = 180
RECENT_HANDOVERS = 20


def agents_online() -> int:
    since = timezone.now() - PRESENCE_TIMEOUT
    return AgentPresence.objects.filter(
        last_seen__gte=since, user__is_active=True, user__is_staff=True
    ).count()


def average_wait_seconds() -> float:
    """Mean time from "waiting" to "taken" over the most recent handovers."""
    recent = (
        Conversation.objects.filter(
            handed_over_at__isnull=False, waiting_since__isnull=False
        )
        .order_by("-handed_over_at")
        .values_list("pk", flat=True)[:RECENT_HANDOVERS]
    )
    result = Conversation.objects.filter(pk__in=list(recent)).aggregate(
        wait=Avg(F("handed_over_at") - F("waiting_since"))
    )
    wait = result["wait"]
    return wait.total_seconds() if wait else DEFAULT_WAIT_SECONDS


def queue_position(conversation: Conversation) -> int:
    """1 for the conversation that has waited longest."""
    assert conversation.waiting_since is not None
    ahead = (
        Conversation.objects.waiting()
        .filter(waiting_since__lt=conversation.waiting_since)
        .count()
    )
    return ahead + 1


def status_frame(conversation: Conversation) -> dict[str, Any]:
    """The ``status`` frame; with queue position and expected wait while waiting."""
    frame = _status_frame(conversation)
    if (
        conversation.status == Conversation.Status.WAITING_FOR_AGENT
        and conversation.waiting_since is not None
    ):
        _fill_queue(
            frame, position=queue_position(conversation), agents=agents_online()
        )
    return frame


def _fill_queue(
    frame: dict[str, Any], *, position: int, agents: int, average: float | None = None
) -> None:
    """Place and wait in a waiting conversation's frame; with nobody online there
    is no line to wait in (the bot takes an email instead), so neither is given."""
    frame["agents_online"] = agents
    if agents:
        frame["queue_position"] = position
        frame["expected_wait_seconds"] = expected_wait_seconds(
            position, agents=agents, average=average
        )


def queue_status_frames() -> list[tuple[Conversation, dict[str, Any]]]:
    """The ``status`` frame of every waiting conversation, in a fixed few queries.

    The same frames as :func:`status_frame` gives one by one, which counts the
    queue again for each: a mass handoff of n conversations would cost n² rows.
    """
    waiting = list(Conversation.objects.waiting().order_by("waiting_since", "pk"))
    since = sorted(c.waiting_since for c in waiting if c.waiting_since is not None)
    agents = agents_online() if since else 0
    average = average_wait_seconds() if since else DEFAULT_WAIT_SECONDS
    frames = []
    for conversation in waiting:
        frame = _status_frame(conversation)
        if conversation.waiting_since is not None:
            # As queue_position: 1 + those that started waiting strictly earlier.
            position = bisect_left(since, conversation.waiting_since) + 1
            _fill_queue(frame, position=position, agents=agents, average=average)
        frames.append((conversation, frame))
    return frames


def _status_frame(conversation: Conversation) -> dict[str, Any]:
    return {
        "type": "status",
        "status": conversation.status,
        "queue_position": None,
        "expected_wait_seconds": None,
    }


def expected_wait_seconds(
    position: int, *, agents: int, average: float | None = None
) -> int:
    # Each agent works through the queue in parallel: position 3 with 2 agents
    # waits about two average handovers.
    rounds = math.ceil(position / max(agents, 1))
    return round(rounds * (average_wait_seconds() if average is None else average))


def queue_estimate() -> QueueEstimate:
    """Agents online, place and wait for a conversation joining the queue now.

    With nobody online there is no estimate to make: the wait is 0 ("unknown"),
    never a guess as if one agent were there.
    """
    position = Conversation.objects.waiting().count() + 1
    agents = agents_online()
    wait = expected_wait_seconds(position, agents=agents) if agents else 0
    return QueueEstimate(agents_online=agents, position=position, wait_seconds=wait)
