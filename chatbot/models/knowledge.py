"""What the bot answers from: help-centre articles and response templates."""

from __future__ import annotations

from django.db import models

from chatbot.dialogue.articles import Section, sections
from ml.models import EmbeddedModel


class Article(EmbeddedModel):
    """A help-centre article the bot answers from (semantic search over embeddings)."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField()
    tags = models.JSONField(default=list, blank=True, help_text='e.g. ["shipping"]')
    published = models.BooleanField(default=True)
    intents = models.ManyToManyField(
        "classifier.Intent",
        related_name="articles",
        blank=True,
        help_text="The intents this article answers. A confident question of one "
        "of them is answered from its articles first (the section nearest the "
        "question), and from the whole help centre only when none fits.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta(EmbeddedModel.Meta):
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def sections(self) -> list[Section]:
        """The parts of the body the bot quotes on their own."""
        return sections(self.body)

    def get_absolute_url(self) -> str:
        return f"/help/{self.slug}/"

    def search_text(self) -> str:
        """What is embedded: the title carries most of the meaning, so it leads."""
        return f"{self.title}\n{' '.join(self.tags)}\n{self.body}"


class ResponseTemplate(models.Model):
    """One wording of what the bot says for an intent or a dialogue situation.

    Several active templates for one key are variations, picked at random. Keys
    without any template here fall back to the defaults in chatbot/demo.
    """

    key = models.CharField(
        max_length=100,
        db_index=True,
        help_text="An intent (e.g. greeting) or a situation (e.g. order_not_found).",
    )
    text = models.TextField(
        help_text="Variables: {customer.name}, {order.number}, {order.status}, "
        "{order.carrier}, {order.tracking_number}, {order.eta}, {queue.position}, "
        "{queue.wait_minutes}, {article.title}."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key", "pk"]

    def __str__(self) -> str:
        return f"{self.key}: {self.text[:60]}"
