"""What the API reads and writes: pydantic schemas, from which the OpenAPI is made.

Request bodies forbid unknown fields, so that a misspelt field is an error
(``validation.failed``) rather than silently ignored.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import (
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from chatbot.models import Boundary, Conversation, Message, Order, ShopSettings

# One request writes at most this many rows of a kind.
MAX_BATCH = 500


Money = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
Slug = Annotated[str, StringConstraints(pattern=r"^[-a-zA-Z0-9_]+$", max_length=200)]


Sku = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
]
OrderNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)
]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
]
ExampleText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]


class Body(Schema):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _unique(values: list[str], what: str) -> list[str]:
    twice = sorted(value for value, count in Counter(values).items() if count > 1)
    if twice:
        raise ValueError(f"each {what} at most once; repeated: {', '.join(twice)}")
    return values


# --- Errors -----------------------------------------------------------------------


class ErrorDetail(Schema):
    code: str = Field(examples=["auth.invalid"])
    message: str
    details: Any = None


class ErrorOut(Schema):
    error: ErrorDetail


# The errors every endpoint may answer; validation errors are added by ninja's
# own 422 in the schema only when the endpoint reads input, so name it everywhere.
ERRORS: dict[int, type[Schema]] = {
    401: ErrorOut,
    403: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


class UpsertOut(Schema):
    """Which keys (sku, number, slug, name) were created, changed, or already so."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]


# The largest file an import request may carry (a few thousand rows); larger exports
# go through manage.py import_products / import_orders, which read any size.
MAX_IMPORT_CHARS = 2_000_000


class ImportIn(Body):
    """A file as the shop exports it: Shopify's or WooCommerce's CSV, or ours."""

    format: Literal["concierge", "shopify", "woocommerce"] = "concierge"
    skip_bad: bool = Field(
        False,
        description="Import the good rows of a file with bad ones (listed in "
        "`skipped`) instead of nothing.",
    )
    csv: str = Field(
        min_length=1,
        max_length=MAX_IMPORT_CHARS,
        description="The CSV file's text, header first.",
    )


class BadRowOut(Schema):
    line: int = Field(description="The line of the file the row starts on (1: header).")
    column: str | None
    problem: str


class ImportOut(Schema):
    """How many rows were created, updated or already as sent, and the bad rows
    left out."""

    created: int
    updated: int
    unchanged: int
    skipped: list[BadRowOut]


class DeleteOut(Schema):
    deleted: list[str]
    missing: list[str] = Field(description="Not there (already deleted, or never).")


# --- Catalog ----------------------------------------------------------------------


class ProductIn(Body):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=20000)
    category: str = Field(min_length=1, max_length=100)
    brand: str = Field("", max_length=100)
    price: Money
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217; empty: the shop's currency (Shop settings).",
    )
    stock: int = Field(0, ge=0, le=2**31 - 1)
    image: str = Field(
        "", max_length=300, description="An absolute URL or a static path."
    )
    url: str = Field("", max_length=300, description="The product's page on the shop.")
    active: bool = Field(True, description="Inactive products are never suggested.")


class ProductsIn(Body):
    products: list[ProductIn] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("products")
    @classmethod
    def one_row_per_sku(cls, products: list[ProductIn]) -> list[ProductIn]:
        _unique([product.sku for product in products], "sku")
        return products


class SkusIn(Body):
    skus: list[Sku] = Field(min_length=1, max_length=MAX_BATCH)


class EventIn(Body):
    kind: Literal["view", "chat_click", "add_to_cart", "purchase"]
    sku: str = Field(min_length=1, max_length=64)
    customer: UUID | None = Field(
        None, description="The chat customer's id (a conversation's customer.id)."
    )
    conversation: str | None = Field(
        None,
        max_length=32,
        description="A conversation's id; its customer is the one meant.",
    )

    @model_validator(mode="after")
    def names_a_customer(self) -> EventIn:
        if self.customer is None and not self.conversation:
            raise ValueError("name the customer, or the conversation")
        return self


class EventsIn(Body):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class SkippedEvent(Schema):
    index: int = Field(description="The event's place in the list, from 0.")
    reason: Literal["unknown_product", "unknown_customer", "unknown_conversation"]


class EventsOut(Schema):
    recorded: int
    skipped: list[SkippedEvent]


# --- Orders -----------------------------------------------------------------------


class OrderItemIn(Body):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(1, ge=1, le=100000)
    price: Money


class OrderIn(Body):
    number: str = Field(min_length=1, max_length=20)
    email: str = Field(
        max_length=254,
        description="The email on the order; the bot asks the customer for it.",
    )
    customer_name: str = Field("", max_length=200)
    shopper_id: str = Field(
        "",
        max_length=255,
        description="The customer's id in the shop: a shopper the shop signs in "
        "to the chat (verified identity) finds the order without the email.",
    )
    status: Order.Status
    carrier: str = Field("", max_length=50)
    tracking_number: str = Field("", max_length=50)
    eta: date | None = None
    placed_at: datetime
    delivered_at: datetime | None = None
    refund_status: Order.Refund = Order.Refund.NONE
    total: Money = Decimal(0)
    items: list[OrderItemIn] = Field(
        default_factory=list,
        max_length=200,
        description="The order's lines; an upsert replaces them all.",
    )

    @field_validator("email")
    @classmethod
    def an_email(cls, value: str) -> str:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("not an email address") from None
        return value

    @field_validator("placed_at", "delivered_at")
    @classmethod
    def with_a_time_zone(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give the time zone, e.g. 2026-05-01T09:30:00Z")
        return value


class OrdersIn(Body):
    orders: list[OrderIn] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("orders")
    @classmethod
    def one_row_per_number(cls, orders: list[OrderIn]) -> list[OrderIn]:
        _unique([order.number for order in orders], "number")
        return orders


class NumbersIn(Body):
    numbers: list[OrderNumber] = Field(min_length=1, max_length=MAX_BATCH)


# --- Knowledge --------------------------------------------------------------------


class ArticleIn(Body):
    slug: Slug
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=100000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    published: bool = Field(True, description="Unpublished: the bot never quotes it.")


class ArticlesIn(Body):
    articles: list[ArticleIn] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("articles")
    @classmethod
    def one_row_per_slug(cls, articles: list[ArticleIn]) -> list[ArticleIn]:
        _unique([article.slug for article in articles], "slug")
        return articles


class SlugsIn(Body):
    slugs: list[Slug] = Field(min_length=1, max_length=MAX_BATCH)


IntentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", max_length=100)]


class IntentIn(Body):
    name: IntentName
    description: str = Field("", max_length=2000)
    examples: list[ExampleText] = Field(
        default_factory=list,
        max_length=2000,
        description="Texts a customer would type for it; added to those already "
        "there (none is removed). The model learns them at its next training.",
    )


class IntentsIn(Body):
    intents: list[IntentIn] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("intents")
    @classmethod
    def one_row_per_name(cls, intents: list[IntentIn]) -> list[IntentIn]:
        _unique([intent.name for intent in intents], "name")
        return intents


class IntentsOut(UpsertOut):
    examples_added: int


class NamesIn(Body):
    names: list[IntentName] = Field(min_length=1, max_length=MAX_BATCH)


# --- Conversations ----------------------------------------------------------------


def _shop(context: Any) -> ShopSettings:
    # Read once per request, not once per message of a 500-message page.
    request = (context or {}).get("request")
    shop = getattr(request, "redaction_settings", None)
    if shop is None:
        shop = ShopSettings.load()
        if request is not None:
            request.redaction_settings = shop
    return shop


def exported(text: str, context: Any) -> str:
    """``text`` as an API response keeps it (``Boundary.EXPORT``)."""
    return _shop(context).redact(text, boundary=Boundary.EXPORT).text


class CustomerOut(Schema):
    id: UUID
    name: str
    email: str


class ConversationOut(Schema):
    id: str
    status: Conversation.Status
    customer: CustomerOut
    assigned_agent: str | None
    created: datetime
    updated: datetime
    waiting_since: datetime | None
    handed_over_at: datetime | None
    resolved_at: datetime | None
    csat_score: int | None
    csat_comment: str

    @staticmethod
    def resolve_id(conversation: Conversation) -> str:
        return conversation.public_id

    @staticmethod
    def resolve_customer(conversation: Conversation, context: Any) -> dict[str, Any]:
        customer = conversation.customer
        return {
            "id": customer.uuid,
            "name": customer.name,
            "email": exported(customer.email, context),
        }

    @staticmethod
    def resolve_csat_comment(conversation: Conversation, context: Any) -> str:
        return exported(conversation.csat_comment, context)

    @staticmethod
    def resolve_assigned_agent(conversation: Conversation) -> str | None:
        agent = conversation.assigned_agent
        return agent.get_username() if agent is not None else None


class MessageOut(Schema):
    seq: int
    sender: Message.Sender
    text: str
    payload: dict[str, Any]
    intent: str
    confidence: float | None
    created: datetime

    @staticmethod
    def resolve_text(message: Message, context: Any) -> str:
        return exported(message.text, context)

    @staticmethod
    def resolve_payload(message: Message, context: Any) -> dict[str, Any]:
        # Buttons and the bot's state quote the customer's words.
        kept: dict[str, Any] = _shop(context).redact_json(
            message.payload, boundary=Boundary.EXPORT
        )
        return kept


class TranscriptOut(Schema):
    items: list[MessageOut]
    next_since_seq: int | None = Field(
        description="More messages follow: ask again with this since_seq."
    )
