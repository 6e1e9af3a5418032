"""The staff access log: who opened which transcript, when, and where.

The console, the admin and the API announce each opening
(``chatbot.events.announce_opened``); the receiver below writes the rows, in the
request's transaction. Only staff who may see the transcript reach the announce:
each place checks its permissions first.
"""

from __future__ import annotations

from typing import Any

from chatbot.models import Conversation
from privacy.models import StaffAccess


def on_transcript_opened(
    sender: Any,
    *,
    place: str,
    conversations: list[Conversation],
    user: Any = None,
    api_key_name: str = "",
    **kwargs: Any,
) -> None:
    StaffAccess.record(
        place=place, conversations=conversations, user=user, api_key_name=api_key_name
    )
