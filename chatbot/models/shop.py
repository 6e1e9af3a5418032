"""The shop's own settings, edited by staff in the admin: one row per installation."""

from __future__ import annotations

import re
import secrets
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models

from chatbot.dialogue.shop import MAX_ORDER_FORMATS, WEEKDAYS, Shop, parse_hours
from ml.redaction import ALWAYS, CONTACTS, Kind, Redaction, redact, redact_json

# Shown to the customer under their own message when a card number was hidden.
CARD_NOTICE = "We hid the card number — never share it in chat."


class Boundary(StrEnum):
    """Where text leaves the live conversation, each with its own redaction."""

    STORE = "store"  # a customer message, before its row is written
    TRAINING = "training"  # a reviewed message becoming a training example
    # The CSV export, analytics, API responses and webhook payloads.
    EXPORT = "export"


def retention_days(*, default: int, help_text: str) -> models.PositiveIntegerField:
    """A retention period in days (at least one: "keep nothing" is no setting a
    running chat could honour, a message must outlive its reply)."""
    return models.PositiveIntegerField(
        default=default, validators=[MinValueValidator(1)], help_text=help_text
    )


def default_opening_hours() -> dict[str, str]:
    return dict(Shop().opening_hours)


def validate_pattern(value: str) -> None:
    """One regular expression per line, each matching an order number in full."""
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if not lines:
        raise ValidationError("Write at least one order-number format.")
    if len(lines) > MAX_ORDER_FORMATS:
        raise ValidationError(f"At most {MAX_ORDER_FORMATS} formats, one per line.")
    for number, line in enumerate(lines, start=1):
        where = f"Line {number} ({line})" if len(lines) > 1 else "The pattern"
        try:
            pattern = re.compile(line)
        except re.error as error:
            raise ValidationError(
                f"{where}: Not a regular expression: {error}."
            ) from error
        if pattern.fullmatch(""):
            raise ValidationError(f"{where} must not match an empty string.")
        # A format without digits ([A-Z]+) would take ordinary words for numbers.
        if not re.search(r"\\d|\[[^\]]*0-9", line):
            raise ValidationError(f"{where}: an order number has digits (\\d).")


def new_order_endpoint_secret() -> str:
    return f"ordsec_{secrets.token_urlsafe(32)}"


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            f"{value!r} is not a time zone name such as Europe/Berlin."
        ) from error


def validate_opening_hours(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Write it as {"mon": "09:00-17:00", …}.')
    for day, hours in value.items():
        if day not in WEEKDAYS:
            raise ValidationError(f"{day!r} is not one of {', '.join(WEEKDAYS)}.")
        if hours in ("", None):
            continue
        if not isinstance(hours, str):
            raise ValidationError(f"{day}: write the hours as text, 09:00-17:00.")
        try:
            parse_hours(hours)
        except ValueError as error:
            raise ValidationError(f"{day}: {error}.") from error


class OrderSource(models.TextChoices):
    LOCAL = "local", "Concierge's order table, changed by the bot (demo shop)"
    API = "api", "Orders pushed through the API; changes sent to the shop as webhooks"
    HTTP = "http", "The shop's order endpoint (lookups and changes over HTTP)"


class ShopSettings(models.Model):
    """What the bot needs to know about the shop; ``load()`` gives the one row."""

    name = models.CharField(max_length=100, default=Shop.name)
    currency = models.CharField(
        max_length=3,
        default=Shop.currency,
        help_text="ISO 4217 code (USD, EUR, GBP…) prices are quoted in when a "
        "product does not say otherwise.",
    )
    order_number_pattern = models.TextField(
        "order-number formats",
        default=Shop.order_number_pattern,
        validators=[validate_pattern],
        help_text=r"One regular expression per line, each matching one order number "
        r"in full: NW-\d{5} (letters and digits), #\d{4,} (Shopify), \d{9} "
        r"(Magento). Customers may type letters in any case and separators their "
        r"way; a number of digits alone counts when they say it is one (order "
        r"100000123, #1001) or answer the bot's question with it. Where several "
        r"lines match, the first wins: list the more specific format first.",
    )
    order_source = models.CharField(
        max_length=10,
        choices=OrderSource.choices,
        default=Shop.order_source,
        help_text="Where the bot looks orders up, and what happens when a customer "
        "confirms a cancellation or return. See docs/order-lookup.md.",
    )
    order_endpoint_url = models.URLField(
        "order endpoint",
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="With the shop's order endpoint: its base URL, e.g. "
        "https://shop.example/concierge/orders; the bot POSTs to …/lookup, "
        "…/cancel and …/return.",
    )
    order_endpoint_secret = models.CharField(
        max_length=100,
        default=new_order_endpoint_secret,
        help_text="Signs every call to the order endpoint (X-Concierge-Signature), "
        "as webhooks are signed; the endpoint verifies with it.",
    )
    timezone = models.CharField(
        max_length=64,
        default=Shop.timezone,
        validators=[validate_timezone],
        help_text="The time zone the opening hours are written in.",
    )
    opening_hours = models.JSONField(
        default=default_opening_hours,
        validators=[validate_opening_hours],
        help_text='When people answer chats, e.g. {"mon": "09:00-17:00", '
        '"sat": "10:00-14:00"}; a day left out is closed.',
    )
    return_window_days = models.PositiveIntegerField(
        default=Shop.return_window_days,
        help_text="Days after delivery a return may be started.",
    )
    free_shipping_threshold = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        default=Shop.free_shipping_threshold,
        help_text="Order value from which shipping is free; empty: never free.",
    )
    redact_contacts_in_training = models.BooleanField(
        "mask contacts in training data",
        default=True,
        help_text="Mask emails, phone numbers and postal addresses when a reviewed "
        "message becomes a training example. Card numbers, IBANs and ID numbers "
        "are always masked there.",
    )
    redact_contacts_in_exports = models.BooleanField(
        "mask contacts in exports",
        default=False,
        help_text="Mask emails, phone numbers and postal addresses in the CSV "
        "export, analytics, API responses and webhook payloads. Card numbers, "
        "IBANs and ID numbers are always masked there.",
    )
    redact_cards_on_store = models.BooleanField(
        "mask card numbers before storing",
        # On by default: a card number in the message table puts the database and
        # every backup of it in PCI DSS scope, and nothing in a chat needs one. The
        # customer sees their message masked, with a notice saying why.
        default=True,
        help_text="Mask payment card numbers in a customer's message before it is "
        "stored at all; the customer sees their message masked with a short notice "
        "why. Off: the full number is kept in the transcript (and still masked "
        "everywhere it leaves it).",
    )
    erasure_deletes_orders = models.BooleanField(
        default=False,
        verbose_name="erasure deletes orders",
        help_text="Off (the default): erasing a customer keeps their orders, which "
        "are the shop's records (accounts, tax), unlinked and with the email and "
        "name anonymised. On: their orders are deleted with everything else.",
    )
    # --- Retention: what the nightly purge (privacy.retention) deletes or
    # anonymises once it is older than this. Defaults a shop can defend: a year of
    # support history, a quarter of browsing, a month of delivery and login logs.
    retention_conversations_days = retention_days(
        default=365,
        help_text="Days a conversation and its messages are kept after their last "
        "activity (the newest message or change). Conversations waiting for or "
        "with a person are never purged. Training examples reviewed from a purged "
        "message are kept, redacted and unlinked.",
    )
    retention_tracking_days = retention_days(
        default=90,
        help_text="Days a tracking event (a product viewed, clicked, bought) is "
        "kept for recommendations.",
    )
    retention_webhook_deliveries_days = retention_days(
        default=30,
        help_text="Days a webhook delivery (its payload and the shop's answer) is "
        "kept in the delivery log.",
    )
    retention_codes_days = retention_days(
        default=7,
        help_text="Days a one-time code for cancelling or returning an order is "
        "kept (it stops working after 15 minutes).",
    )
    retention_rate_limit_days = retention_days(
        default=30,
        help_text="Days login attempts (the admin's lockout records) and the "
        "network address of each customer message are kept.",
    )
    retention_anonymous_customers_days = retention_days(
        default=90,
        help_text="Days a visitor who never gave an email nor signed in on the "
        "shop is kept after their last visit, once none of their conversations is "
        "left; their tracking events go with them.",
    )
    retention_access_log_days = retention_days(
        default=365,
        help_text="Days a line of the staff access log (who opened which "
        "transcript) is kept.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "shop settings"

    def __str__(self) -> str:
        return f"Settings of {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # one row per installation
        self.currency = self.currency.upper()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.order_source == OrderSource.HTTP and not self.order_endpoint_url:
            raise ValidationError(
                {"order_endpoint_url": "The shop's order endpoint needs its URL."}
            )
        if (
            self.order_source == OrderSource.HTTP
            and len(self.order_endpoint_secret) < 16
        ):
            raise ValidationError(
                {"order_endpoint_secret": "Use a secret of at least 16 characters."}
            )

    @classmethod
    def load(cls) -> ShopSettings:
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings

    def redaction_kinds(self, boundary: Boundary) -> frozenset[Kind]:
        """What ``boundary`` masks with these settings."""
        if boundary == Boundary.STORE:
            return frozenset({Kind.CARD}) if self.redact_cards_on_store else frozenset()
        contacts = (
            self.redact_contacts_in_training
            if boundary == Boundary.TRAINING
            else self.redact_contacts_in_exports
        )
        return ALWAYS | CONTACTS if contacts else ALWAYS

    def redact(self, text: str, *, boundary: Boundary) -> Redaction:
        """``text`` as ``boundary`` keeps it; order numbers are never masked."""
        return redact(
            text,
            kinds=self.redaction_kinds(boundary),
            order_numbers=self.order_number_pattern,
        )

    def redact_json(self, value: Any, *, boundary: Boundary) -> Any:
        """A payload (every string in it) as ``boundary`` keeps it."""
        return redact_json(
            value,
            kinds=self.redaction_kinds(boundary),
            order_numbers=self.order_number_pattern,
        )

    def snapshot(self) -> Shop:
        threshold = self.free_shipping_threshold
        return Shop(
            name=self.name,
            currency=self.currency,
            order_number_pattern=self.order_number_pattern,
            order_source=self.order_source,
            timezone=self.timezone,
            opening_hours={d: h for d, h in self.opening_hours.items() if h},
            return_window_days=self.return_window_days,
            free_shipping_threshold=Decimal(threshold)
            if threshold is not None
            else None,
        )


def current_shop() -> Shop:
    """The shop's settings now, as the policy reads them."""
    return ShopSettings.load().snapshot()
