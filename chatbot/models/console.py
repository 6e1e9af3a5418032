"""What the agent console keeps: presence, canned responses, internal notes."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from chatbot.models.conversations import Conversation


class AgentPresence(models.Model):
    """When a support agent's console last said it was open."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence"
    )
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user} ({self.last_seen:%H:%M:%S})"


class CannedResponse(models.Model):
    """A ready-made answer an agent inserts by typing its shortcut, e.g. ``/ret``."""

    shortcut = models.SlugField(
        max_length=40,
        unique=True,
        help_text="Typed after a slash in the console: ret is found by /ret.",
    )
    title = models.CharField(
        max_length=100, help_text="Shown in the console's list of suggestions."
    )
    text = models.TextField(help_text="Sent to the customer as the agent's message.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"/{self.shortcut} {self.title}"


class ConversationNote(models.Model):
    """An agent's internal note on a conversation; the customer never sees it."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversation_notes",
    )
    text = models.TextField(help_text="Only staff see notes.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "created", "pk"]

    def __str__(self) -> str:
        return f"Note by {self.author or 'someone'}: {self.text[:50]}"

    def as_frame(self) -> dict[str, object]:
        return {
            "id": self.pk,
            "author": self.author.get_username() if self.author else "",
            "text": self.text,
            "created": self.created.isoformat(),
        }
