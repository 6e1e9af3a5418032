"""The shop's orders, as the bot looks them up, and the returns it starts."""

from __future__ import annotations

from typing import Any

from django.db import models

from chatbot.models.conversations import Conversation

RETURN_WINDOW_DAYS = 30


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

    def cancel(self) -> bool:
        """Cancel the order if it still can be; call with the order row locked."""
        if not self.cancellable():
            return False
        self.status = self.Status.CANCELLED
        self.save(update_fields=["status"])
        return True

    def start_return(self, *, conversation: Conversation | None, now: Any) -> bool:
        """Open a return if one may be started now; call with the order row locked."""
        if self.return_refusal(now=now):
            return False
        ReturnRequest.objects.get_or_create(
            order=self, defaults={"conversation": conversation}
        )
        return True

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
