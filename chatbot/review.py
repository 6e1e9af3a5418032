"""Transcript review: a corrected bot message becomes a training example.

A bot message carries the prediction for the customer message it answered (its
``client_msg_id`` is ``reply-to:<customer message id>``); the example's text is that
customer message, and ``TrainingExample.message_id`` points at it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    OuterRef,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Substr

from chatbot.models import Message
from classifier.models import OUT_OF_SCOPE, Intent, TrainingExample

REPLY_PREFIX = "reply-to:"


class ReviewError(Exception):
    """A review that can't be stored; the message says why, for the reviewer."""


def with_source(messages: QuerySet[Message]) -> QuerySet[Message]:
    """Annotate ``source_id``: the customer message a bot message answered."""
    return messages.annotate(
        source_id=Case(
            When(
                client_msg_id__regex=rf"^{REPLY_PREFIX}[0-9]{{1,18}}$",
                then=Cast(
                    Substr("client_msg_id", len(REPLY_PREFIX) + 1),
                    BigIntegerField(),
                ),
            ),
            default=Value(None),
            output_field=BigIntegerField(),
        )
    )


def predictions(messages: QuerySet[Message] | None = None) -> QuerySet[Message]:
    """Bot messages that answer a customer message with a model's prediction,
    annotated with ``source_id`` and ``reviewed``."""
    base = with_source(
        (messages if messages is not None else Message.objects.all()).filter(
            sender=Message.Sender.BOT, confidence__isnull=False
        )
    )
    examples = TrainingExample.objects.filter(message_id=OuterRef("source_id"))
    return base.filter(source_id__isnull=False).annotate(  # type: ignore[misc]
        reviewed=Exists(examples)
    )


def review_queue(messages: QuerySet[Message] | None = None) -> QuerySet[Message]:
    """Bot predictions nobody has reviewed yet, the least sure first: the labels
    that teach the model most come first."""
    return (
        predictions(messages)
        # The plugin can't see an annotation made in another function.
        .filter(reviewed=False)  # type: ignore[misc]
        .select_related("conversation")
        .order_by("confidence", "created")
    )


def source_message(bot_message: Message) -> Message | None:
    """The customer message the bot answered (by its reply id, else the one before)."""
    client_msg_id = bot_message.client_msg_id or ""
    if client_msg_id.startswith(REPLY_PREFIX):
        try:
            pk = int(client_msg_id.removeprefix(REPLY_PREFIX))
        except ValueError:
            pk = None
        if pk is not None:
            found = Message.objects.filter(
                pk=pk, sender=Message.Sender.CUSTOMER
            ).first()
            if found is not None:
                return found
    return (
        Message.objects.filter(
            conversation_id=bot_message.conversation_id,
            sender=Message.Sender.CUSTOMER,
            seq__lt=bot_message.seq,
        )
        .order_by("-seq")
        .first()
    )


def intent_choices() -> list[tuple[str, str]]:
    names = Intent.objects.order_by("name").values_list("name", flat=True)
    return [(name, name) for name in names] + [(OUT_OF_SCOPE, "Out of scope")]


def message_review(
    *, message: Message, intent_name: str, reviewer: Any
) -> TrainingExample:
    """Store what the customer meant as a ``review`` training example.

    ``intent_name`` is an intent's name or ``"oos"`` for out of scope. Reviewing a
    message again replaces the earlier label.
    """
    if message.sender != Message.Sender.BOT:
        raise ReviewError("Only the bot's messages carry a prediction to correct")
    source = source_message(message)
    if source is None:
        raise ReviewError("This bot message answers no customer message")
    intent = None
    if intent_name != OUT_OF_SCOPE:
        intent = Intent.objects.filter(name=intent_name).first()
        if intent is None:
            raise ReviewError(f"No intent named {intent_name!r}")
    with transaction.atomic():
        TrainingExample.objects.filter(
            message_id=source.pk, source=TrainingExample.Source.REVIEW
        ).exclude(intent=intent).delete()
        example, _ = TrainingExample.objects.update_or_create(
            text=source.text,
            intent=intent,
            defaults={
                "message_id": source.pk,
                "conversation_id": source.conversation_id,
                "source": TrainingExample.Source.REVIEW,
                "added_by": reviewer,
                "original_intent": message.intent,
                "original_confidence": message.confidence,
            },
        )
    return example
