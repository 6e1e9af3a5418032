"""Customers, their conversations and the messages in them."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import models
from django.db.models import F
from pgvector.django import HnswIndex, VectorField

TOKEN_SALT = "chatbot.customer"  # noqa: S105 - a namespace, not a secret


def new_public_id() -> str:
    # 128 random bits: a conversation id can't be guessed or enumerated.
    return secrets.token_urlsafe(16)


class Customer(models.Model):
    """An anonymous shop visitor, known by the signed token the widget keeps."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name or self.email or f"Visitor {str(self.uuid)[:8]}"

    @property
    def token(self) -> str:
        return signing.dumps(str(self.uuid), salt=TOKEN_SALT)

    @classmethod
    def from_token(cls, token: str) -> Customer | None:
        """The customer a token was issued to, or ``None`` for a bad token."""
        try:
            value = signing.loads(token, salt=TOKEN_SALT)
            return cls.objects.get(uuid=uuid.UUID(value))
        except (signing.BadSignature, ValueError, TypeError, cls.DoesNotExist):
            return None


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def open(self) -> ConversationQuerySet:
        return self.exclude(status=Conversation.Status.RESOLVED)

    def waiting(self) -> ConversationQuerySet:
        return self.filter(status=Conversation.Status.WAITING_FOR_AGENT)


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "With the bot"
        WAITING_FOR_AGENT = "waiting_for_agent", "Waiting for a person"
        WITH_AGENT = "with_agent", "With a person"
        RESOLVED = "resolved", "Resolved"

    public_id = models.CharField(
        max_length=32, unique=True, default=new_public_id, editable=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="conversations"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.BOT, db_index=True
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    last_seq = models.PositiveIntegerField(
        default=0, help_text="The seq of the newest message; the next one gets +1."
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    csat_score = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="1 (bad) to 5 (great), given by the customer."
    )
    csat_comment = models.TextField(blank=True)
    state = models.JSONField(
        default=dict,
        blank=True,
        help_text="The bot's dialogue state: open form, failed turns, handoff context.",
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Conversation {self.public_id}"

    @property
    def group_name(self) -> str:
        """The channel-layer group every socket of this conversation joins."""
        return f"conversation.{self.public_id}"

    def bot_may_answer(self) -> bool:
        """The bot answers while it has the conversation, and while the customer
        waits for a person only to take an email for follow-up."""
        if self.status == self.Status.BOT:
            return True
        return (
            self.status == self.Status.WAITING_FOR_AGENT
            and self.state.get("form", {}).get("name") == "followup_email"
        )

    def next_seq(self) -> int:
        """Reserve the next seq; call inside a transaction holding the row lock."""
        Conversation.objects.filter(pk=self.pk).update(last_seq=F("last_seq") + 1)
        self.refresh_from_db(fields=["last_seq"])
        return self.last_seq


class Message(models.Model):
    class Sender(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveIntegerField(help_text="1, 2, 3 … per conversation, no gaps.")
    sender = models.CharField(max_length=10, choices=Sender.choices)
    text = models.TextField()
    payload = models.JSONField(
        default=dict, blank=True, help_text="Quick replies, product cards, postbacks."
    )
    # NULL, not "", for "no id": the unique constraint below must ignore those rows.
    client_msg_id = models.CharField(  # noqa: DJ001
        max_length=64,
        null=True,
        blank=True,
        help_text="Sender's id for the message; a resend with it is not stored twice.",
    )
    intent = models.CharField(max_length=100, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey(
        "ml.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "seq"], name="unique_seq_per_conversation"
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_msg_id"],
                condition=models.Q(client_msg_id__isnull=False),
                name="unique_client_msg_id_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.sender}: {self.text[:50]}"

    def as_frame(self) -> dict[str, object]:
        """The ``message`` frame the widget and the console receive."""
        return {
            "type": "message",
            "seq": self.seq,
            "sender": self.sender,
            "text": self.text,
            "payload": self.payload,
            "created": self.created.isoformat(),
        }


class Article(models.Model):
    """A help-centre article the bot answers from (semantic search over embeddings)."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField()
    tags = models.JSONField(default=list, blank=True, help_text='e.g. ["shipping"]')
    published = models.BooleanField(default=True)
    embedding = VectorField(
        dimensions=384,
        null=True,
        blank=True,
        editable=False,
        help_text="Computed in the background whenever the article changes.",
    )
    embedded_text_sha256 = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Hash of the text the embedding was computed from: saving an "
        "unchanged article does not embed it again.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [
            HnswIndex(
                name="article_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            )
        ]

    def __str__(self) -> str:
        return self.title

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


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        PROCESSING = "processing", "Being prepared"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"
        RETURNED = "returned", "Returned"

    class Refund(models.TextChoices):
        NONE = "none", "No refund"
        PENDING = "pending", "Refund being processed"
        REFUNDED = "refunded", "Refunded"

    number = models.CharField(max_length=20, unique=True)
    email = models.EmailField(
        help_text="The email on the order; lookups must match it."
    )
    customer_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices)
    carrier = models.CharField(max_length=50, blank=True)
    tracking_number = models.CharField(max_length=50, blank=True)
    eta = models.DateField(null=True, blank=True)
    placed_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    refund_status = models.CharField(
        max_length=20, choices=Refund.choices, default=Refund.NONE
    )
    total = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return self.number

    def cancellable(self) -> bool:
        return self.status in (self.Status.PLACED, self.Status.PROCESSING)

    def return_refusal(self, *, now: Any) -> str | None:
        """Why this order can't be returned now, or ``None`` when it can."""
        if self.status in (self.Status.RETURNED, self.Status.CANCELLED):
            return f"the order is already {self.get_status_display().lower()}"
        if self.status != self.Status.DELIVERED or self.delivered_at is None:
            return "it hasn't been delivered yet"
        if (now - self.delivered_at).days > RETURN_WINDOW_DAYS:
            return f"it was delivered more than {RETURN_WINDOW_DAYS} days ago"
        if hasattr(self, "return_request"):
            return "a return has already been started"
        return None


RETURN_WINDOW_DAYS = 30


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"


class ReturnRequest(models.Model):
    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, related_name="return_request"
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Return of {self.order}"


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
