"""Conversations and their transcripts, read only.

No ``from __future__ import annotations`` here: ninja builds the query parameters'
model from the signature, and cannot resolve ``Query[...]`` from a string.
"""

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate
from pydantic import Field

from api import schemas
from api.auth import ApiKeyAuth
from api.errors import ApiError
from api.models import ApiKey
from chatbot import events
from chatbot.models import Conversation, Message

router = Router(
    auth=ApiKeyAuth(ApiKey.Scope.CONVERSATIONS_READ), tags=["conversations"]
)

MAX_TRANSCRIPT_PAGE = 500


class ConversationFilters(Schema):
    status: Conversation.Status | None = None
    updated_after: datetime | None = Field(
        None,
        description="Only those with a change (status, rating) or a message since "
        "then: pass the time of your last sync.",
    )


def _conversations() -> Any:
    return Conversation.objects.select_related("customer", "assigned_agent")


def _conversation(public_id: str) -> Conversation:
    conversation = _conversations().filter(public_id=public_id).first()
    if conversation is None:
        raise ApiError("not_found", f"No conversation {public_id!r}")
    return conversation


@router.get(
    "/conversations",
    response={200: list[schemas.ConversationOut], **schemas.ERRORS},
    summary="List conversations, newest first",
)
@paginate(LimitOffsetPagination)
def conversations_list(
    request: HttpRequest, filters: Query[ConversationFilters]
) -> Any:
    # By creation, not by change: an order that moves while a client pages through
    # it would skip or repeat rows.
    conversations = _conversations().order_by("-created", "-pk")
    if filters.status is not None:
        conversations = conversations.filter(status=filters.status)
    if filters.updated_after is not None:
        since = filters.updated_after
        # A stored message does not save its conversation (the seq is reserved by
        # an UPDATE of last_seq alone), so new messages are looked for as well.
        new_message = Message.objects.filter(
            conversation=OuterRef("pk"), created__gt=since
        )
        conversations = conversations.filter(Q(updated__gt=since) | Exists(new_message))
    return conversations


@router.get(
    "/conversations/{conversation_id}",
    response={200: schemas.ConversationOut, 404: schemas.ErrorOut, **schemas.ERRORS},
    summary="One conversation",
)
def conversation_detail(request: HttpRequest, conversation_id: str) -> Conversation:
    return _conversation(conversation_id)


@router.get(
    "/conversations/{conversation_id}/messages",
    response={200: schemas.TranscriptOut, 404: schemas.ErrorOut, **schemas.ERRORS},
    summary="A conversation's transcript, in order",
)
def conversation_messages(
    request: HttpRequest,
    conversation_id: str,
    since_seq: int = Query(0, ge=0, description="Only messages after this seq."),
    limit: int = Query(200, ge=1, le=MAX_TRANSCRIPT_PAGE),
) -> dict[str, Any]:
    conversation = _conversation(conversation_id)
    # The staff access log: a client paging through a transcript (or syncing it)
    # within minutes is one opening (``privacy.models.StaffAccess``).
    key: ApiKey = request.auth  # type: ignore[attr-defined]  # set by ApiKeyAuth
    events.announce_opened(
        events.Place.API, conversations=[conversation], api_key_name=key.name
    )
    messages = list(
        conversation.messages.filter(seq__gt=since_seq).order_by("seq")[: limit + 1]
    )
    more = len(messages) > limit
    return {
        "items": messages[:limit],
        "next_since_seq": messages[limit - 1].seq if more else None,
    }
