"""The shop's connection: API keys its systems call with, webhooks we call it with."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.crypto import constant_time_compare, salted_hmac

from chatbot.events import Event
from chatbot.outbound import signature

KEY_PREFIX = "ck_"
PREFIX_LENGTH = 8  # hex characters: what the admin lists to tell keys apart


class ApiKey(models.Model):
    """A key a shop's system calls the API with.

    Only the prefix (to find the row and tell keys apart) and a keyed hash of the
    whole key are stored: the key is shown once, when it is made, and a database
    reader cannot use it. The hash is an HMAC under ``SECRET_KEY`` (a key has 256
    random bits, so a slow password hash would only slow every request), which also
    means that changing ``SECRET_KEY`` invalidates every key.
    """

    class Scope(models.TextChoices):
        CATALOG = "catalog", "Catalog: products and tracking events"
        ORDERS = "orders", "Orders"
        KNOWLEDGE = "knowledge", "Help-centre articles and intents"
        CONVERSATIONS_READ = "conversations:read", "Read conversations"

    # A key's last use is written at most this often: one UPDATE per request would
    # make every API call a write.
    TOUCH_EVERY = timedelta(minutes=1)

    name = models.CharField(
        max_length=100, help_text="Who uses it, e.g. “Shopify sync” or “ERP”."
    )
    prefix = models.CharField(
        max_length=PREFIX_LENGTH,
        unique=True,
        editable=False,
        help_text="The start of the key (after “ck_”), to tell keys apart.",
    )
    key_hash = models.CharField(
        max_length=64, editable=False, help_text="HMAC-SHA256 of the key."
    )
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="What the key may do; a request outside them is refused (403).",
    )
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires = models.DateTimeField(
        null=True, blank=True, help_text="Refused from then on; empty: never expires."
    )
    revoked = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the key was revoked; it is refused from then on.",
    )
    last_used = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The last request with this key (to within a minute).",
    )

    class Meta:
        ordering = ["-created"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({KEY_PREFIX}{self.prefix}…)"

    @classmethod
    def issue(
        cls,
        *,
        name: str,
        scopes: list[str],
        expires: datetime | None = None,
        created_by_id: int | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key. Returns the stored row and the key in clear, to show once."""
        row = cls(
            name=name, scopes=scopes, expires=expires, created_by_id=created_by_id
        )
        key = row.assign_new_key()
        row.save()
        return row, key

    def assign_new_key(self) -> str:
        """Give this (unsaved) row a fresh key; the key in clear, to show once."""
        self.prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        key = f"{KEY_PREFIX}{self.prefix}_{secrets.token_urlsafe(32)}"
        self.key_hash = self.digest(key)
        return key

    @staticmethod
    def digest(key: str) -> str:
        return salted_hmac("api.ApiKey", key, algorithm="sha256").hexdigest()

    @staticmethod
    def prefix_of(key: str) -> str | None:
        """The prefix a presented key claims, or ``None`` if it has not our shape."""
        if not key.startswith(KEY_PREFIX):
            return None
        prefix, _, rest = key[len(KEY_PREFIX) :].partition("_")
        if len(prefix) != PREFIX_LENGTH or not rest:
            return None
        return prefix

    def matches(self, key: str) -> bool:
        return constant_time_compare(self.digest(key), self.key_hash)

    def refusal(self, *, now: datetime) -> str | None:
        """Why a matching key is refused now (``auth.revoked``, ``auth.expired``)."""
        if self.revoked is not None:
            return "auth.revoked"
        if self.expires is not None and self.expires <= now:
            return "auth.expired"
        return None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def revoke(self, *, now: datetime) -> None:
        if self.revoked is None:
            self.revoked = now
            self.save(update_fields=["revoked"])

    def touch(self, *, now: datetime) -> None:
        """Record a use, at most once per ``TOUCH_EVERY``."""
        if self.last_used is None or now - self.last_used >= self.TOUCH_EVERY:
            self.last_used = now
            ApiKey.objects.filter(pk=self.pk).update(last_used=now)


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookSubscription(models.Model):
    """A URL of the shop's that is told when chosen events happen."""

    url = models.URLField(
        max_length=500,
        verbose_name="URL",
        help_text="Where the events are POSTed (https in production).",
    )
    secret = models.CharField(
        max_length=100,
        default=new_webhook_secret,
        help_text="Signs every delivery (X-Concierge-Signature); the receiver "
        "verifies with it. See docs/webhooks.md.",
    )
    events = models.JSONField(
        default=list, blank=True, help_text="The events sent to this URL."
    )
    active = models.BooleanField(
        default=True, help_text="Inactive: no new deliveries are made."
    )
    description = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["url"]

    def __str__(self) -> str:
        return self.description or self.url

    def event_labels(self) -> str:
        labels = dict(Event.choices)
        return ", ".join(labels.get(event, event) for event in self.events)


class WebhookDeliveryQuerySet(models.QuerySet["WebhookDelivery"]):
    def due(self, *, now: datetime) -> WebhookDeliveryQuerySet:
        return self.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )


class WebhookDelivery(models.Model):
    """One event for one subscription: the outbox row and its delivery log.

    Written in the transaction that made the event happen; a Celery task on the
    ``webhooks`` queue POSTs it after the commit, and the sweep sends again every
    row that is due (a failed attempt, a task lost with the broker) until it is
    delivered or a day has passed.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    # While an attempt runs, the row is not due for at least this long (and four
    # times the request's timeout): so that the sweep never sends it twice at once,
    # yet an attempt whose worker died is tried again soon.
    LEASE = timedelta(minutes=2)
    FIRST_RETRY = timedelta(seconds=30)
    MAX_RETRY = timedelta(hours=1)

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=50, choices=Event.choices)
    event_id = models.UUIDField(
        default=uuid.uuid4,
        db_index=True,
        help_text="The same for every delivery (and resend) of one event; "
        "receivers use it to ignore duplicates.",
    )
    payload = models.JSONField(help_text="The body sent, as JSON.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next attempt is due."
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The receiver's HTTP status, last attempt."
    )
    response_body = models.TextField(
        blank=True, help_text="The start of the receiver's answer, last attempt."
    )
    error = models.TextField(
        blank=True, help_text="Why the last attempt failed (timeout, refused…)."
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"

    def claim(self, *, now: datetime, timeout: timedelta) -> bool:
        """Take the next attempt, if it is due and nobody else took it."""
        lease = max(self.LEASE, 4 * timeout)
        claimed = (
            WebhookDelivery.objects.due(now=now)
            .filter(pk=self.pk)
            .update(next_attempt_at=now + lease)
        )
        return claimed == 1

    def record_attempt(
        self,
        *,
        now: datetime,
        response_code: int | None,
        response_body: str = "",
        error: str = "",
        retry_for: timedelta,
    ) -> None:
        """Log an attempt: delivered on a 2xx; otherwise retried with exponential
        backoff (30 s, 1 min, 2 min … at most an hour apart) until ``retry_for``
        after the event, then given up."""
        self.attempts += 1
        self.last_attempt_at = now
        self.response_code = response_code
        self.response_body = response_body
        self.error = error
        if response_code is not None and 200 <= response_code < 300:
            self.status = self.Status.DELIVERED
            self.delivered_at = now
            self.next_attempt_at = None
        else:
            wait = min(self.FIRST_RETRY * 2 ** (self.attempts - 1), self.MAX_RETRY)
            if now + wait > self.created + retry_for:
                self.status = self.Status.FAILED
                self.next_attempt_at = None
            else:
                self.next_attempt_at = now + wait
        self.save(
            update_fields=[
                "attempts",
                "last_attempt_at",
                "response_code",
                "response_body",
                "error",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )

    def resend(self, *, now: datetime) -> WebhookDelivery:
        """A new delivery of the same event (same ``event_id``), due now."""
        return WebhookDelivery.objects.create(
            subscription_id=self.subscription_id,
            event=self.event,
            event_id=self.event_id,
            payload=self.payload,
            next_attempt_at=now,
        )

    def headers(self, *, body: bytes, timestamp: int) -> dict[str, Any]:
        """The request's headers, with the signature over ``timestamp.body``."""
        return {
            "Content-Type": "application/json",
            "User-Agent": "Concierge-Webhooks/1",
            "X-Concierge-Event": self.event,
            "X-Concierge-Event-Id": str(self.event_id),
            "X-Concierge-Delivery": str(self.pk),
            "X-Concierge-Timestamp": str(timestamp),
            "X-Concierge-Signature": signature(
                secret=self.subscription.secret, timestamp=timestamp, body=body
            ),
        }
