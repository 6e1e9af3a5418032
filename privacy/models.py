"""What the privacy app records: erasures, exports, staff access to transcripts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from chatbot.events import Place
from chatbot.models import Conversation

# --- access and erasure requests (privacy/erasure.py, privacy/export.py) ----------


def email_digest(email: str) -> str:
    """A keyed hash of an email address, for the record of a request about it.

    HMAC under ``SECRET_KEY``, not a plain hash: a plain SHA-256 of an address is
    found again by hashing a list of likely addresses; without the key it is not.
    """
    value = email.strip().lower()
    return salted_hmac(
        "privacy.DataSubjectRequest.email", value, algorithm="sha256"
    ).hexdigest()


class DataSubjectRequestQuerySet(models.QuerySet["DataSubjectRequest"]):
    def about_email(self, email: str) -> DataSubjectRequestQuerySet:
        """Requests that covered this address ("did you erase X?")."""
        return self.filter(email_digests__contains=[email_digest(email)])


class DataSubjectRequest(models.Model):
    """One erasure or export (access request) of a customer's data, as it was done.

    It records who, when, how and how many rows of each kind, never the data: no
    email, name, text or id of an erased row (an id would link this record to rows
    restored from a backup). The addresses are kept only as keyed hashes, so that
    staff can answer "did you erase alice@example.com?" by typing the address into
    the admin's search, and nobody can read the addresses back out of the log.
    """

    class Kind(models.TextChoices):
        ERASURE = "erasure", "Erasure"
        EXPORT = "export", "Access (export)"

    class Via(models.TextChoices):
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Management command"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    via = models.CharField(
        max_length=10, choices=Via.choices, help_text="Where it was done."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff member who did it (in the admin).",
    )
    requested_by_name = models.CharField(
        max_length=150,
        verbose_name="by",
        help_text="Who did it: the staff username, or the operating-system user "
        "for the command (kept if the account is deleted).",
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    named_by = models.CharField(
        max_length=10,
        choices=[("customer", "Customer record"), ("email", "Email address")],
        help_text="How the request named the person.",
    )
    customers = models.PositiveIntegerField(
        default=0, help_text="How many customer records it covered."
    )
    email_digests = models.JSONField(
        default=list,
        blank=True,
        help_text="Keyed hashes (HMAC-SHA256 under SECRET_KEY) of the email "
        "addresses it covered; search for an address to find its requests.",
    )
    rows = models.JSONField(
        default=dict,
        blank=True,
        help_text="Rows deleted (an erasure) or exported, per kind.",
    )
    anonymised = models.JSONField(
        default=dict,
        blank=True,
        help_text="Rows kept but stripped of the person (orders, golden cases), "
        "per kind.",
    )
    total = models.PositiveIntegerField(
        default=0, help_text="All rows deleted or exported."
    )

    objects = DataSubjectRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "access or erasure request"
        permissions = [
            (
                "erase_export_customer_data",
                "Can erase and export customer data",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.requested_by_name}"


# --- Staff access log --------------------------------------------------------------


class StaffAccessQuerySet(models.QuerySet["StaffAccess"]):
    def older_than(self, cutoff: datetime) -> StaffAccessQuerySet:
        return self.filter(opened_at__lt=cutoff)


class StaffAccess(models.Model):
    """One opening of one transcript by staff (or a shop system through the API).

    Written by ``privacy.access`` when the console, the admin or the API announce
    it (``chatbot.events.transcript_opened``); kept for the shop's
    ``retention_access_log_days`` and never edited.
    """

    # Opening the same transcript again, in the same place, within this time is
    # the same opening: the console's socket reconnecting and sending ``open``
    # again, an admin page saved and shown again, an API client paging through.
    SAME_OPENING = timedelta(minutes=10)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff member; empty for the API (see the key's name).",
    )
    username = models.CharField(
        max_length=150,
        blank=True,
        help_text="The staff member's user name then: it stays if the account goes.",
    )
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty once the conversation was purged or erased.",
    )
    conversation_public_id = models.CharField(
        "conversation id",
        max_length=32,
        blank=True,
        db_index=True,
        help_text="The conversation's id, kept after the conversation is purged; "
        "cleared when its customer's data is erased on request.",
    )
    place = models.CharField(
        max_length=10,
        choices=Place.choices,
        help_text="Where it was opened: the console, the admin or the API.",
    )
    api_key_name = models.CharField(
        "API key",
        max_length=100,
        blank=True,
        help_text="Through the API: the name of the key that read it.",
    )
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = StaffAccessQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = "staff access to a transcript"
        verbose_name_plural = "staff access log"

    def __str__(self) -> str:
        who = self.username or self.api_key_name or "?"
        return f"{who} opened {self.conversation_public_id} ({self.place})"

    @classmethod
    def record(
        cls,
        *,
        place: str,
        conversations: list[Conversation],
        user: Any = None,
        api_key_name: str = "",
        now: datetime | None = None,
    ) -> list[StaffAccess]:
        """One row per conversation opened, unless this is the same opening
        (``SAME_OPENING``) as one already recorded. Returns the rows written."""
        now = now or timezone.now()
        user_id = user.pk if user is not None else None
        recent = set(
            StaffAccess.objects.filter(
                Q(user__isnull=True) if user_id is None else Q(user_id=user_id),
                api_key_name=api_key_name,
                place=place,
                conversation_id__in=[c.pk for c in conversations],
                opened_at__gt=now - cls.SAME_OPENING,
            ).values_list("conversation_id", flat=True)
        )
        rows = [
            StaffAccess(
                user_id=user_id,
                username=user.get_username() if user is not None else "",
                conversation=conversation,
                conversation_public_id=conversation.public_id,
                place=place,
                api_key_name=api_key_name,
                opened_at=now,
            )
            for conversation in dict.fromkeys(conversations)
            if conversation.pk not in recent
        ]
        return StaffAccess.objects.bulk_create(rows)
