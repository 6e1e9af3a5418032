"""What happens to a conversation, announced to whoever listens (the shop's webhooks).

The chat announces and never knows who listens: ``api`` connects a receiver in its
``ready()``, so imports still run one way (config → api → chatbot). The signal is
sent inside the transaction that made the change, by the model method or service
that made it; a receiver writes its own rows there (they commit or roll back with
the change) and leaves anything slow, such as an HTTP request, for after the commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.dispatch import Signal

if TYPE_CHECKING:
    from chatbot.models import Conversation

# Sent with ``event`` (an ``Event`` value), ``conversation`` and ``data`` (a dict of
# what the event adds: the message, the rating, the agent).
conversation_event = Signal()


class Event(models.TextChoices):
    STARTED = "conversation.started", "Conversation started"
    HANDED_OVER = "conversation.handed_over", "Handed over (waiting for a person)"
    TAKEN = "conversation.taken", "Taken by an agent"
    RESOLVED = "conversation.resolved", "Resolved"
    CSAT_RECEIVED = "conversation.csat_received", "Rating (CSAT) received"
    MESSAGE_STORED = "message.stored", "Message stored"
    # A customer confirmed (with the code mailed to the order's address) that the
    # order should be cancelled / returned: the shop acts, then updates the order
    # through the API (ShopSettings.order_source = api).
    ORDER_CANCEL_REQUESTED = "order.cancel_requested", "Order cancellation requested"
    ORDER_RETURN_REQUESTED = "order.return_requested", "Order return requested"


def announce(event: Event, *, conversation: Conversation, **data: Any) -> None:
    """Tell the listeners that ``event`` happened to ``conversation`` (in its
    transaction, if any)."""
    conversation_event.send(
        sender=type(conversation), event=event, conversation=conversation, data=data
    )


# --- Transcripts opened: the staff access log ------------------------------------
#
# Sent with ``conversations`` (the ones opened), ``place`` (a ``Place``), ``user``
# (the staff member, ``None`` through the API) and ``api_key_name`` whenever staff
# read a transcript: the console, the admin and the API announce it, and the
# privacy app records who, what, when and where (its ``ready()`` connects).
transcript_opened = Signal()


class Place(models.TextChoices):
    CONSOLE = "console", "Console"
    ADMIN = "admin", "Admin"
    API = "api", "API"


def announce_opened(
    place: Place,
    *,
    conversations: list[Conversation],
    user: Any = None,
    api_key_name: str = "",
) -> None:
    """Tell the listeners that a transcript was opened (staff access log)."""
    transcript_opened.send(
        sender=Place,
        place=place,
        conversations=conversations,
        user=user,
        api_key_name=api_key_name,
    )
