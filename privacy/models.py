"""What the privacy app records: erasures, exports, staff access to transcripts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.crypto import salted_hmac

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
