"""Intents the bot knows and the examples it learns them from."""

from __future__ import annotations

from django.conf import settings
from django.db import models

OUT_OF_SCOPE = "oos"


class Intent(models.Model):
    name = models.SlugField(
        max_length=100, unique=True, help_text="Lowercase with underscores."
    )
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingExampleQuerySet(models.QuerySet["TrainingExample"]):
    def labelled(self) -> list[tuple[str, str]]:
        """``(text, intent name)`` pairs; out-of-scope examples get ``"oos"``."""
        rows = self.order_by("pk").values_list("text", "intent__name")
        return [(text, name or OUT_OF_SCOPE) for text, name in rows]


class TrainingExample(models.Model):
    class Source(models.TextChoices):
        SEED = "seed", "Written by the team"
        REVIEW = "review", "Corrected in review"
        IMPORT = "import", "Imported"

    text = models.TextField()
    intent = models.ForeignKey(
        Intent,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="examples",
        help_text="Empty for an out-of-scope example (belongs to no intent).",
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    # For reviewed examples: what the bot had said, so corrections can be studied.
    original_intent = models.CharField(max_length=100, blank=True)
    original_confidence = models.FloatField(null=True, blank=True)
    message_id = models.BigIntegerField(
        null=True, blank=True, help_text="The chat message this example came from."
    )
    # A plain id, as message_id: this app does not import the chat.
    conversation_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The conversation it came from: training takes at most "
        "RETRAIN_MAX_PER_CONVERSATION reviewed examples from one conversation.",
    )
    golden = models.BooleanField(
        default=False,
        help_text="Part of the frozen evaluation set every candidate model is "
        "measured on; never trained on. Changed only by the admin's actions.",
    )
    conflict = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="An example with the same or nearly the same text and another "
        "label: neither is trained on until one is fixed or deleted.",
    )

    objects = TrainingExampleQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["text", "intent"],
                name="unique_example_per_intent",
                nulls_distinct=False,  # out-of-scope examples are unique too
            )
        ]

    def __str__(self) -> str:
        return f"{self.text[:60]} → {self.intent or OUT_OF_SCOPE}"

    @property
    def label(self) -> str:
        return self.intent.name if self.intent else OUT_OF_SCOPE
