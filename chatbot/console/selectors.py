"""What the console shows: the live list, one conversation in full."""

from __future__ import annotations

from typing import Any

from django.db.models import (
    Case,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.urls import reverse

from chatbot.console import permissions
from chatbot.models import CannedResponse, Conversation, ConversationNote, Message

LIST_LIMIT = 100


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def conversation_summary(conversation: Conversation) -> dict[str, Any]:
    """One row of the console's list."""
    if hasattr(conversation, "last_text"):  # annotated by console_conversations()
        last_text = conversation.last_text
        last_sender = getattr(conversation, "last_sender", None)
    else:
        last = conversation.messages.order_by("-seq").first()
        last_text, last_sender = (last.text, last.sender) if last else (None, None)
    handoff = conversation.state.get("handoff") or {}
    agent = conversation.assigned_agent
    return {
        "id": conversation.public_id,
        "customer": str(conversation.customer),
        "email": conversation.customer.email,
        "status": conversation.status,
        "status_display": conversation.get_status_display(),
        "assigned_agent": agent.get_username() if agent else None,
        "assigned_agent_id": agent.pk if agent else None,
        "waiting_since": _iso(conversation.waiting_since),
        "handed_over_at": _iso(conversation.handed_over_at),
        "updated": _iso(conversation.updated),
        "last_message": (last_text or "")[:140],
        "last_sender": last_sender,
        "reason": handoff.get("reason", ""),
    }


def console_conversations() -> QuerySet[Conversation]:
    """Open conversations, those waiting for a person first (longest wait on top),
    then those with a person, then the bot's, newest activity first."""
    rank = Case(
        When(status=Conversation.Status.WAITING_FOR_AGENT, then=Value(0)),
        When(status=Conversation.Status.WITH_AGENT, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    newest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-seq")
    return (
        Conversation.objects.open()
        .filter(Q(last_seq__gt=0) | ~Q(status=Conversation.Status.BOT))
        .select_related("customer", "assigned_agent")
        .annotate(
            rank=rank,
            last_text=Subquery(newest.values("text")[:1]),
            last_sender=Subquery(newest.values("sender")[:1]),
        )
        .order_by("rank", "waiting_since", "-updated")[:LIST_LIMIT]
    )


def conversation_list() -> list[dict[str, Any]]:
    return [conversation_summary(c) for c in console_conversations()]


def message_frame(message: Message) -> dict[str, Any]:
    """A transcript line for staff: the customer's frame plus the bot's reading."""
    return {
        **message.as_frame(),
        "intent": message.intent,
        "confidence": message.confidence,
        "uncertainty": message.uncertainty,
        # Why the model read it so (nearest training examples), for reviewers.
        "review_url": (
            reverse("admin:chatbot_message_correct", args=[message.pk])
            if message.sender == Message.Sender.BOT and message.confidence is not None
            else None
        ),
        "agent": message.agent.get_username() if message.agent else None,
    }


def conversation_detail(conversation: Conversation) -> dict[str, Any]:
    """Everything an agent needs to pick a conversation up."""
    messages = conversation.messages.select_related("agent").order_by("seq")
    notes = ConversationNote.objects.filter(conversation=conversation).select_related(
        "author"
    )
    return {
        "conversation": conversation_summary(conversation),
        "messages": [message_frame(m) for m in messages],
        "notes": [n.as_frame() for n in notes],
        "handoff": conversation.state.get("handoff"),
        "csat_score": conversation.csat_score,
        "csat_comment": conversation.csat_comment,
    }


def agents() -> list[dict[str, Any]]:
    """Staff who can be assigned a conversation: those who may reply."""
    users = permissions.assignable_agents()
    return [
        {"id": u.pk, "name": u.get_full_name() or u.get_username()}
        for u in users.order_by("username")
    ]


def canned_responses() -> list[dict[str, str]]:
    return [
        {"shortcut": c.shortcut, "title": c.title, "text": c.text}
        for c in CannedResponse.objects.all()
    ]
