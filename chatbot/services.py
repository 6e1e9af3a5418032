"""Multi-step writes of the chat: store a message, then (after commit) broadcast it.

Every side effect — a channel-layer broadcast, a Celery task — is registered with
``transaction.on_commit`` so that nothing is announced that could still roll back.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from chatbot import selectors
from chatbot.models import Conversation, Customer, Message

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4000


def broadcast(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to a channel-layer group; a lost broadcast is healed by resync."""
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - a configuration bug
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    try:
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        # The message is committed; clients catch up with a resync, so a broken
        # broadcast must not turn a stored message into an error for the sender.
        logger.exception("broadcast to %s failed", group)


def conversation_for_customer(
    *, customer: Customer, public_id: str | None
) -> Conversation | None:
    """The customer's conversation ``public_id``; their open (or new) one if ``None``.

    Returns ``None`` when ``public_id`` is not one of this customer's conversations —
    the same answer whether it belongs to someone else or does not exist.
    """
    if public_id:
        return Conversation.objects.filter(
            customer=customer, public_id=public_id
        ).first()
    conversation = customer.conversations.open().order_by("-created").first()
    return conversation or Conversation.objects.create(customer=customer)


def message_store(
    *,
    conversation_id: int,
    sender: str,
    text: str,
    payload: dict[str, Any] | None = None,
    client_msg_id: str | None = None,
    **fields: Any,
) -> tuple[Message, bool]:
    """Store a message with the conversation's next seq; idempotent by client_msg_id.

    Returns:
        ``(message, created)``; ``created`` is False when ``client_msg_id`` was
        already stored, and then nothing is written or broadcast again.
    """
    with transaction.atomic():
        # The row lock serialises writers of one conversation: seqs come out
        # strictly increasing with no gaps, and a duplicate is seen reliably.
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if client_msg_id is not None:
            existing = conversation.messages.filter(client_msg_id=client_msg_id).first()
            if existing is not None:
                return existing, False
        if sender == Message.Sender.CUSTOMER and (
            conversation.status == Conversation.Status.RESOLVED
        ):
            # A customer writing again reopens the conversation with the bot.
            conversation.status = Conversation.Status.BOT
            conversation.resolved_at = None
            conversation.save(update_fields=["status", "resolved_at", "updated"])
            transaction.on_commit(lambda: status_broadcast(conversation))
        message = Message.objects.create(
            conversation=conversation,
            seq=conversation.next_seq(),
            sender=sender,
            text=text,
            payload=payload or {},
            client_msg_id=client_msg_id,
            **fields,
        )
        frame = message.as_frame()
        transaction.on_commit(
            lambda: broadcast(
                conversation.group_name,
                {
                    "type": "chat.message",
                    "message": frame,
                    # For agent consoles, which may follow several conversations.
                    "conversation": conversation.public_id,
                },
            )
        )
        transaction.on_commit(lambda: console_broadcast(conversation))
        if sender == Message.Sender.CUSTOMER and conversation.bot_may_answer():
            from chatbot.tasks import reply_to_message

            transaction.on_commit(lambda: reply_to_message.delay(message.pk))
    return message, True


CONSOLE_GROUP = "console"


def console_broadcast(conversation: Conversation) -> None:
    """Tell every open agent console that a conversation changed (it re-reads it)."""
    broadcast(
        CONSOLE_GROUP,
        {"type": "console.changed", "conversation": conversation.public_id},
    )


def status_broadcast(conversation: Conversation) -> None:
    broadcast(
        conversation.group_name,
        {"type": "chat.status", "status": selectors.status_frame(conversation)},
    )


def queue_broadcast() -> None:
    """Tell everyone waiting for a person their current place and wait."""
    for conversation in Conversation.objects.waiting():
        status_broadcast(conversation)


def typing_broadcast(conversation: Conversation, *, sender: str) -> None:
    broadcast(
        conversation.group_name, {"type": "chat.typing", "sender": sender, "origin": ""}
    )


def csat_record(*, conversation: Conversation, score: int, comment: str) -> None:
    conversation.csat_score = score
    conversation.csat_comment = comment
    conversation.save(update_fields=["csat_score", "csat_comment", "updated"])


def bot_reply(*, message_id: int) -> Message | None:
    """Answer a customer message; ``None`` when there is nothing (more) to answer.

    Safe to run twice: the reply carries ``client_msg_id="reply-to:<id>"``, so a
    second run finds it and stores nothing. The conversation row stays locked while
    the bot thinks, so two quick messages are answered one after the other.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:  # deleted since (e.g. the conversation was erased)
        return None
    reply_id = f"reply-to:{message.pk}"
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(
            pk=message.conversation_id
        )
        if not conversation.bot_may_answer():
            return None
        if conversation.messages.filter(client_msg_id=reply_id).exists():
            return None
        typing_broadcast(conversation, sender=Message.Sender.BOT)
        message.conversation = conversation
        status_before = conversation.status
        from chatbot.dialogue.policy import respond

        reply = respond(message)
        conversation.save(update_fields=["state", "status", "waiting_since", "updated"])
        stored, _ = message_store(
            conversation_id=conversation.pk,
            sender=Message.Sender.BOT,
            client_msg_id=reply_id,
            text=reply.text,
            payload=reply.payload,
            intent=reply.intent,
            confidence=reply.confidence,
            model_version_id=reply.model_version_id,
        )
        if conversation.status != status_before:
            transaction.on_commit(queue_broadcast)
            if conversation.status != Conversation.Status.WAITING_FOR_AGENT:
                transaction.on_commit(lambda: status_broadcast(conversation))
    return stored
