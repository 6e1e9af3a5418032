"""Customers, their conversations and the messages in them."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import models
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from chatbot import events

TOKEN_SALT = "chatbot.customer"  # noqa: S105 - a namespace, not a secret
LINK_SALT = "chatbot.conversation-link"


def new_public_id() -> str:
    # 128 random bits: a conversation id can't be guessed or enumerated.
    return secrets.token_urlsafe(16)


class Customer(models.Model):
    """An anonymous shop visitor, known by the signed token the widget keeps."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    # Set only from an identity the shop signed (see the shop integration docs):
    # a shopper who is logged in on the shop is known by the shop's own id.
    external_id = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The shopper's id in the shop, from a verified (signed) identity.",
    )
    identified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the shop last vouched for this shopper's identity.",
    )
    created = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name or self.email or f"Visitor {str(self.uuid)[:8]}"

    @property
    def token(self) -> str:
        """A fresh token, valid for ``CUSTOMER_TOKEN_MAX_AGE`` seconds from now.

        Each connect hands out a new one (the ``session`` frame), so a customer who
        comes back within the age never expires, and one who doesn't is forgotten.
        """
        return signing.dumps(str(self.uuid), salt=TOKEN_SALT)

    @classmethod
    def from_token(cls, token: str) -> Customer | None:
        """The customer a token was issued to, or ``None`` for a bad or expired one."""
        try:
            value = signing.loads(
                token, salt=TOKEN_SALT, max_age=settings.CUSTOMER_TOKEN_MAX_AGE
            )
            return cls.objects.get(uuid=uuid.UUID(value))
        except (signing.BadSignature, ValueError, TypeError, cls.DoesNotExist):
            # SignatureExpired is a BadSignature: an expired token is no token.
            return None


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def open(self) -> ConversationQuerySet:
        return self.exclude(status=Conversation.Status.RESOLVED)

    def waiting(self) -> ConversationQuerySet:
        return self.filter(status=Conversation.Status.WAITING_FOR_AGENT)

    def inactive_since(self, cutoff: datetime) -> ConversationQuerySet:
        """Those with no activity since ``cutoff``, and no person owing an answer.

        Activity is the conversation's last change or its newest message (storing
        a message does not save the conversation). One waiting for or with a
        person is never among them, however old: staff resolve it first.
        """
        recent = Message.objects.filter(
            conversation=OuterRef("pk"), created__gte=cutoff
        )
        return self.filter(
            updated__lt=cutoff,
            status__in=[Conversation.Status.BOT, Conversation.Status.RESOLVED],
        ).exclude(Exists(recent))


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
        # The console's permissions, beside the default ``view_conversation`` (which
        # the console needs to show anything: transcripts, emails, the list).
        permissions = [
            ("reply_conversation", "Can take over a conversation and reply"),
            (
                "assign_conversation",
                "Can assign a conversation, or act on one another agent holds",
            ),
            ("resolve_conversation", "Can resolve a conversation"),
        ]

    def __str__(self) -> str:
        return f"Conversation {self.public_id}"

    @property
    def group_name(self) -> str:
        """The channel-layer group every socket of this conversation joins."""
        return f"conversation.{self.public_id}"

    def link_token(self) -> str:
        """A signed token that reopens this conversation in the widget (the link in
        an emailed agent reply), valid for ``CONVERSATION_LINK_MAX_AGE`` seconds."""
        return signing.dumps(self.public_id, salt=LINK_SALT)

    @classmethod
    def from_link_token(cls, token: str) -> Conversation | None:
        """The conversation a link was made for; ``None`` if tampered or expired."""
        try:
            public_id = signing.loads(
                token, salt=LINK_SALT, max_age=settings.CONVERSATION_LINK_MAX_AGE
            )
        except signing.BadSignature:  # SignatureExpired is one too
            return None
        if not isinstance(public_id, str):  # pragma: no cover - we only sign str
            return None
        return (
            cls.objects.select_related("customer").filter(public_id=public_id).first()
        )

    def bot_may_answer(self) -> bool:
        """The bot answers while it has the conversation, and while the customer
        waits for a person only to take an email for follow-up."""
        if self.status == self.Status.BOT:
            return True
        return (
            self.status == self.Status.WAITING_FOR_AGENT
            and self.state.get("form", {}).get("name") == "followup_email"
        )

    # --- status changes: each sets the fields it owns and saves them; callers hold
    # the row lock and announce the change after commit.

    def queue_for_agent(self) -> None:
        """Put the conversation in the queue for a person; the bot stops answering."""
        self.status = self.Status.WAITING_FOR_AGENT
        self.waiting_since = timezone.now()
        self.save(update_fields=["status", "waiting_since", "updated"])
        events.announce(events.Event.HANDED_OVER, conversation=self)

    def take(self, *, agent_id: int, restart_clock: bool = True) -> None:
        """Give the conversation to an agent; the bot stops answering.

        ``restart_clock``: a take starts the handling time now; a transfer keeps it.
        """
        self.status = self.Status.WITH_AGENT
        self.assigned_agent_id = agent_id
        if restart_clock or self.handed_over_at is None:
            self.handed_over_at = timezone.now()
        self.state.pop("form", None)  # e.g. the follow-up email question
        self.save(
            update_fields=[
                "status",
                "assigned_agent",
                "handed_over_at",
                "state",
                "updated",
            ]
        )
        events.announce(events.Event.TAKEN, conversation=self, agent_id=agent_id)

    def hand_back(self) -> None:
        """Give the conversation back to the bot, which answers the next message."""
        self.status = self.Status.BOT
        self.assigned_agent_id = None
        self.state["failed_turns"] = 0  # a fresh start for the bot
        self.save(update_fields=["status", "assigned_agent", "state", "updated"])

    def resolve(self, *, by_agent_id: int) -> None:
        """Close the conversation; an unassigned one is credited to ``by_agent_id``."""
        if (
            self.assigned_agent_id is None
            and self.status == self.Status.WAITING_FOR_AGENT
        ):
            self.assigned_agent_id = by_agent_id
        self.status = self.Status.RESOLVED
        self.resolved_at = timezone.now()
        self.save(update_fields=["status", "resolved_at", "assigned_agent", "updated"])
        events.announce(events.Event.RESOLVED, conversation=self)

    def reopen(self) -> None:
        """A customer writing to a resolved conversation reopens it with the bot."""
        self.status = self.Status.BOT
        self.resolved_at = None
        self.save(update_fields=["status", "resolved_at", "updated"])

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
    client_address = models.GenericIPAddressField(
        null=True,
        blank=True,
        help_text="Where a customer's message came from; order lookups are "
        "limited per address.",
    )
    intent = models.CharField(max_length=100, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    model_version = models.ForeignKey(
        "ml.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name="intent model version",
        help_text="The intent model that read the customer's message.",
    )
    recommender_version = models.ForeignKey(
        "ml.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recommended_in",
        help_text="The recommender version that ranked the products shown, if one did.",
    )
    uncertainty = models.FloatField(
        null=True,
        blank=True,
        help_text="1 minus the margin between the model's two best classes, out of "
        "scope included: 0 when sure, 1 when torn. The review queue starts with the "
        "highest.",
    )
    ranking = models.JSONField(
        default=list,
        blank=True,
        help_text="The model's three best classes with their probabilities, out of "
        "scope included.",
    )
    form_value = models.BooleanField(
        default=False,
        help_text="The customer's message was a value typed into a form (an order "
        "number, an email, a code), not a request: review leaves it out.",
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    emailed = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When this agent reply was also emailed to the customer (who had "
        "left an address for a reply).",
    )

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


class PendingReply(models.Model):
    """A customer message the bot still owes a reply: the outbox of the reply path.

    Stored in the same transaction as the message, deleted in the one that stores
    the reply (or finds none is owed). The reply task is only a fast path: the
    periodic sweep enqueues it again for any row past ``due``, so a task lost with
    Redis or a killed worker delays a reply but never drops it.
    """

    message = models.OneToOneField(
        Message,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="pending_reply",
    )
    due = models.DateTimeField(
        db_index=True,
        help_text="When the sweep enqueues the reply task again if no reply exists.",
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times the sweep has enqueued it again."
    )

    def __str__(self) -> str:
        return f"Reply owed to message {self.message_id}"
