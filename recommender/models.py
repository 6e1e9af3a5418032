"""The shop's catalog and what customers do with it."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from ml.models import EmbeddedModel

# How prices are written, by ISO 4217 code (others: "49.00 CHF").
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def money(amount: Decimal | float | int, currency: str) -> str:
    """An amount as the bot says it: ``money(50, "USD")`` → ``"$50"``;
    ``money(49.9, "CHF")`` → ``"49.90 CHF"``."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    shown = f"{value:.0f}" if value == value.to_integral_value() else f"{value}"
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    return f"{symbol}{shown}" if symbol else f"{shown} {currency.upper()}"


class Product(EmbeddedModel):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, db_index=True)
    brand = models.CharField(max_length=100, blank=True, db_index=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    stock = models.PositiveIntegerField(default=0)
    image = models.CharField(
        max_length=300, blank=True, help_text="A static path or an absolute URL."
    )
    url = models.CharField(max_length=300, blank=True)
    attributes = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            'Optional facts customers ask about, as a JSON object: "colours" (a list), '
            '"sizes" (a list), "material" (text), and any other keys '
            '(e.g. "capacity": "20 L"). Example: {"colours": ["red", "navy"], '
            '"sizes": ["S", "M", "L"], "material": "merino wool"}.'
        ),
    )
    active = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta(EmbeddedModel.Meta):
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def search_text(self) -> str:
        """What is embedded: the words a customer would describe the product with."""
        text = f"{self.name}. {self.category}. {self.brand}. {self.description}"
        if described := self.attributes_text():
            text += f" {described}."
        return text

    @property
    def colours(self) -> list[str]:
        """The colours it comes in, lower case ("colour" or "colours" in attributes)."""
        found = self.attributes.get("colours", self.attributes.get("colour", []))
        return [str(c).lower() for c in (found if isinstance(found, list) else [found])]

    @property
    def sizes(self) -> list[str]:
        found = self.attributes.get("sizes", [])
        return [str(s) for s in (found if isinstance(found, list) else [found])]

    @property
    def material(self) -> str:
        return str(self.attributes.get("material") or "")

    def attributes_text(self) -> str:
        """The attributes in words: "Colours: red, navy. Sizes: S, M. Material: …"."""
        parts = []
        for key, value in self.attributes.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            if shown not in ("", None):
                parts.append(f"{str(key).replace('_', ' ').capitalize()}: {shown}")
        return ". ".join(parts)

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    def price_display(self) -> str:
        symbol = CURRENCY_SYMBOLS.get(self.currency.upper())
        amount = self.price.quantize(Decimal("0.01"))
        return f"{symbol}{amount}" if symbol else f"{amount} {self.currency.upper()}"


class Interaction(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", "Viewed"
        CHAT_CLICK = "chat_click", "Clicked in chat"
        ADD_TO_CART = "add_to_cart", "Added to cart"
        PURCHASE = "purchase", "Purchased"

    # The customer is the chat visitor; kept as a plain id so that this app does
    # not import chatbot (imports run one way: chatbot → recommender).
    customer_id = models.BigIntegerField(db_index=True)
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="interactions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    conversation_id = models.BigIntegerField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.kind} {self.product_id}"
