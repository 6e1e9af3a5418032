"""The shop's orders, as the bot looks them up, and the returns it starts."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.crypto import constant_time_compare, salted_hmac

from chatbot.models.conversations import Conversation


class OrderQuerySet(models.QuerySet["Order"]):
    def belonging_to(self, *, email: str, shopper_id: str) -> OrderQuerySet:
        """Orders whose email is ``email`` or whose shopper is ``shopper_id``; an
        empty key matches nothing, so two empty keys give no orders."""
        whose = models.Q()
        if email:
            whose |= models.Q(email__iexact=email)
        if shopper_id:
            whose |= models.Q(shopper_id=shopper_id)
        return self.filter(whose) if whose else self.none()

    def owned(self, *, number: str, email: str, shopper_id: str) -> Order | None:
        """The order with ``number`` whose email is ``email`` or whose shopper is
        ``shopper_id``; ``None`` if none is (an empty key matches nothing)."""
        mine = self.belonging_to(email=email, shopper_id=shopper_id)
        return mine.filter(number__iexact=number).first()


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
    shopper_id = models.CharField(
        "shopper id",
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The customer's id in the shop: a shopper the shop vouches for "
        "(Customer.external_id) finds this order without giving the email.",
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
    fetched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When this copy was read from the shop's order endpoint; empty "
        "for orders pushed through the API. The shop's answer is the truth: the "
        "copy is overwritten at every lookup.",
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at"]

    def __str__(self) -> str:
        return self.number

    def replace_items(self, items: Sequence[Mapping[str, Any]]) -> bool:
        """Make the order's lines exactly ``items`` (sku, name, quantity, price);
        False when they already were, so a re-sent order changes nothing."""

        def key(item: Mapping[str, Any]) -> tuple[object, ...]:
            return (item["sku"], item["name"], item["quantity"], Decimal(item["price"]))

        current = self.items.order_by("pk").values("sku", "name", "quantity", "price")
        if [key(item) for item in items] == [key(item) for item in current]:
            return False
        self.items.all().delete()
        OrderItem.objects.bulk_create(OrderItem(order=self, **item) for item in items)
        return True

    def cancellable(self) -> bool:
        return self.status in (self.Status.PLACED, self.Status.PROCESSING)

    def cancel(self) -> bool:
        """Cancel the order if it still can be; call with the order row locked."""
        if not self.cancellable():
            return False
        self.status = self.Status.CANCELLED
        self.save(update_fields=["status"])
        return True

    def start_return(
        self, *, conversation: Conversation | None, now: Any, window_days: int
    ) -> bool:
        """Open a return if one may be started now; call with the order row locked."""
        if self.return_refusal(now=now, window_days=window_days):
            return False
        ReturnRequest.objects.get_or_create(
            order=self, defaults={"conversation": conversation}
        )
        return True

    def return_refusal(self, *, now: Any, window_days: int) -> str | None:
        """Why this order can't be returned now, or ``None`` when it can.

        ``window_days``: the shop's return window (``ShopSettings``), in days.
        """
        if self.status in (self.Status.RETURNED, self.Status.CANCELLED):
            return f"the order is already {self.get_status_display().lower()}"
        if self.status != self.Status.DELIVERED or self.delivered_at is None:
            return "it hasn't been delivered yet"
        if (now - self.delivered_at).days > window_days:
            return f"it was delivered more than {window_days} days ago"
        if hasattr(self, "return_request"):
            return "a return has already been started"
        return None


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


class OrderActionCode(models.Model):
    """A one-time code mailed to an order's address before the bot changes it.

    Knowing an order's number and email is not proof of owning it (both can be
    guessed or leaked); reading the mailbox is. Only a keyed hash of the code is
    stored, so a database reader cannot type it in.
    """

    class Action(models.TextChoices):
        CANCEL = "cancel", "Cancel"
        RETURN = "return", "Return"

    DIGITS = 6
    LIFETIME = timedelta(minutes=15)
    MAX_ATTEMPTS = 3

    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="action_codes"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    code_hash = models.CharField(max_length=64, help_text="HMAC of the code.")
    expires = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Wrong codes typed so far."
    )
    used = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} code for {self.order}"

    @classmethod
    def issue(
        cls, *, order_id: int, action: str, now: datetime
    ) -> tuple[OrderActionCode, str]:
        """A new code for ``action`` on the order; earlier unused ones stop working.

        Returns:
            The stored row and the code in clear, to be mailed and then forgotten.
        """
        cls.objects.filter(order_id=order_id, action=action, used=None).update(
            expires=now
        )
        code = f"{secrets.randbelow(10**cls.DIGITS):0{cls.DIGITS}d}"
        row = cls.objects.create(
            order_id=order_id,
            action=action,
            code_hash=cls.digest(order_id=order_id, action=action, code=code),
            expires=now + cls.LIFETIME,
        )
        return row, code

    @staticmethod
    def digest(*, order_id: int, action: str, code: str) -> str:
        value = f"{order_id}:{action}:{code}"
        hmac = salted_hmac("chatbot.OrderActionCode", value, algorithm="sha256")
        return hmac.hexdigest()

    def usable(self, *, now: datetime) -> bool:
        live = self.used is None and self.expires > now
        return live and self.attempts < self.MAX_ATTEMPTS

    def matches(self, code: str) -> bool:
        expected = self.digest(order_id=self.order_id, action=self.action, code=code)
        return constant_time_compare(expected, self.code_hash)


class OrderLookup(models.Model):
    """One order lookup the bot made: who asked (the conversation) for which number,
    when, and what came of it; never what the order holds.

    For operators (is the shop's endpoint slow, failing?) and for erasing what a
    customer's conversations touched (it goes with the conversation).
    """

    class Outcome(models.TextChoices):
        FOUND = "found", "Found"
        NOT_FOUND = "not_found", "Not found (or not theirs)"
        UNAVAILABLE = "unavailable", "Order system not answering"

    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="order_lookups",
    )
    number = models.CharField(max_length=20, help_text="The order number asked for.")
    source = models.CharField(
        max_length=10, help_text="Where it was looked up (the shop's order source)."
    )
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    duration_ms = models.PositiveIntegerField(
        help_text="How long the lookup took, in milliseconds."
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.number}: {self.get_outcome_display()}"
