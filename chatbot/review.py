"""Transcript review: a corrected bot message becomes a training example.

A bot message carries the prediction for the customer message it answered (its
``client_msg_id`` is ``reply-to:<customer message id>``); the example's text is that
customer message, and ``TrainingExample.message_id`` points at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Substr

from chatbot.models import Boundary, Message, ShopSettings
from classifier.models import OUT_OF_SCOPE, Intent, TrainingExample
from classifier.selectors import Neighbour, nearest_examples
from ml.models import GoldenSet, ModelVersion

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
    """Bot predictions nobody has reviewed yet, the most uncertain first: the labels
    that teach the model most come first.

    Uncertainty counts every class, out of scope included, so a message the model
    is sure is out of scope waits at the back. Values typed into a form (an order
    number, an email, a code) are no prediction to review and are left out.
    """
    return (
        predictions(messages)
        # The plugin can't see an annotation made in another function.
        .filter(reviewed=False, form_value=False)  # type: ignore[misc]
        .select_related("conversation")
        .order_by(
            # Messages stored before uncertainty was recorded: after, least sure first.
            F("uncertainty").desc(nulls_last=True),
            "confidence",
            "created",
        )
    )


@dataclass(frozen=True)
class Reading:
    """One class the model weighed for a message, with the training examples of
    that class nearest to the message: why the model leaned that way."""

    label: str
    probability: float | None
    neighbours: list[Neighbour]


def explanation(bot_message: Message, *, source: Message | None) -> list[Reading]:
    """The predicted class and the runner-up, each with its three nearest training
    examples to the customer's message (none when there is no such message)."""
    ranking = [(str(name), float(p)) for name, p in (bot_message.ranking or [])[:2]]
    if not ranking:  # stored before the ranking was
        ranking = [(bot_message.intent or OUT_OF_SCOPE, bot_message.confidence or 0.0)]
    text = source.text if source is not None else ""
    return [
        Reading(
            label=name,
            probability=probability,
            neighbours=nearest_examples(text, label=name) if text else [],
        )
        for name, probability in ranking
    ]


def example_relabel(
    *, example: TrainingExample, intent_name: str, reviewer: Any
) -> TrainingExample:
    """Give a training example another label (a reviewer found it mislabelled).

    The example becomes the reviewer's (``source="review"``), remembering the label
    it had; if the text already exists with the new label, the mislabelled copy is
    deleted and the existing one returned.
    """
    intent = None
    if intent_name != OUT_OF_SCOPE:
        intent = Intent.objects.filter(name=intent_name).first()
        if intent is None:
            raise ReviewError(f"No intent named {intent_name!r}")
    with transaction.atomic():
        locked = TrainingExample.objects.select_for_update().get(pk=example.pk)
        if locked.intent_id == (intent.pk if intent else None):
            return locked
        twin = TrainingExample.objects.filter(text=locked.text, intent=intent).first()
        if twin is not None:
            locked.delete()
            return twin
        locked.original_intent = locked.label
        locked.intent = intent
        locked.source = TrainingExample.Source.REVIEW
        locked.added_by = reviewer
        locked.save(update_fields=["original_intent", "intent", "source", "added_by"])
    return locked


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
    # The example outlives the conversation (and is shown to whoever trains the
    # model): it keeps the customer's words, not their card or contact details.
    text = ShopSettings.load().redact(source.text, boundary=Boundary.TRAINING).text
    with transaction.atomic():
        TrainingExample.objects.filter(
            message_id=source.pk, source=TrainingExample.Source.REVIEW
        ).exclude(intent=intent).delete()
        example, _ = TrainingExample.objects.update_or_create(
            text=text,
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


def training_examples_redact() -> int:
    """Apply the training boundary to every example taken from a chat: those
    reviewed before redaction existed, or before a setting was turned on.

    One short transaction per example, never one over the table. An example whose
    redacted text another of the same label already has is deleted (the other
    teaches the same); the golden set's version goes up when one of its examples
    changed.

    Returns:
        How many examples were rewritten or deleted.
    """
    shop = ShopSettings.load()
    changed = golden = 0
    from_chats = TrainingExample.objects.filter(
        Q(source=TrainingExample.Source.REVIEW) | Q(message_id__isnull=False)
    )
    for pk, text in from_chats.values_list("pk", "text").iterator():
        kept = shop.redact(text, boundary=Boundary.TRAINING)
        if not kept.changed:
            continue
        with transaction.atomic():
            example = TrainingExample.objects.select_for_update().filter(pk=pk).first()
            if example is None:  # deleted meanwhile
                continue
            twin = TrainingExample.objects.filter(
                text=kept.text, intent=example.intent
            ).exclude(pk=pk)
            if twin.exists():
                example.delete()
            else:
                example.text = kept.text
                example.save(update_fields=["text"])
        changed += 1
        golden += example.golden
    if golden:
        golden_set = GoldenSet.objects.filter(kind=ModelVersion.Kind.INTENT).first()
        if golden_set is not None:
            golden_set.bump(f"redacted {golden} example(s)")
    return changed
