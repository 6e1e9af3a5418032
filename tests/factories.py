"""Test data factories (factory_boy): one per model the tests create, with defaults
that make a valid row, so a test names only what it is about."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from factory.django import DjangoModelFactory

from api.models import ApiKey, WebhookSubscription
from chatbot.dialogue.shop import WEEKDAYS
from chatbot.events import Event
from chatbot.models import (
    AgentPresence,
    Article,
    CannedResponse,
    Conversation,
    Customer,
    Message,
    Order,
    OrderItem,
    ReturnRequest,
    ShopSettings,
)
from classifier.models import Intent, TrainingExample
from ml.models import ModelVersion
from recommender.models import Interaction, Product


class CustomerFactory(DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    name = "Alice"
    email = factory.LazyAttribute(lambda c: f"{c.name.lower()}@example.com")


class ConversationFactory(DjangoModelFactory[Conversation]):
    class Meta:
        model = Conversation

    customer = factory.SubFactory(CustomerFactory)


class MessageFactory(DjangoModelFactory[Message]):
    """A message with the conversation's next seq, as ``message_store`` gives it."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    sender = Message.Sender.CUSTOMER
    text = "hello"
    seq = factory.LazyAttribute(lambda m: m.conversation.next_seq())


def granting(default: list[str]) -> Any:
    """A post-generation ``permissions=["app.codename", …]``, ``default`` if not
    given, granted to the user directly."""

    def grant(user: Any, create: bool, extracted: list[str] | None, **_: Any) -> None:
        if not create:
            return
        for name in default if extracted is None else extracted:
            app_label, codename = name.split(".")
            user.user_permissions.add(
                Permission.objects.get(
                    content_type__app_label=app_label, codename=codename
                )
            )

    return factory.PostGeneration(grant)


class StaffFactory(DjangoModelFactory[Any]):
    """Staff who can log in to the admin, with no permissions unless given
    ``permissions=[…]`` (``AgentFactory`` makes a support agent)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True  # the permissions hook saves what it adds

    username = "bob"
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("bob-password-123")

    permissions = granting([])


# What a support agent does in the console: see, reply, assign, resolve, note.
CONSOLE_PERMISSIONS = [
    "chatbot.view_conversation",
    "chatbot.reply_conversation",
    "chatbot.assign_conversation",
    "chatbot.resolve_conversation",
    "chatbot.add_conversationnote",
]


class AgentFactory(StaffFactory):
    """A support agent with every console permission, as the Support agent group
    gives them; ``permissions=[…]`` grants only those."""

    permissions = granting(CONSOLE_PERMISSIONS)


class AgentPresenceFactory(DjangoModelFactory[AgentPresence]):
    """An agent whose console is open right now."""

    class Meta:
        model = AgentPresence

    user = factory.SubFactory(AgentFactory)
    last_seen = factory.LazyFunction(timezone.now)


class OrderFactory(DjangoModelFactory[Order]):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"NW-{20000 + n}")
    email = "alice@example.com"
    status = Order.Status.PLACED
    placed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=2))


class OrderItemFactory(DjangoModelFactory[OrderItem]):
    class Meta:
        model = OrderItem

    order = factory.SubFactory(OrderFactory)
    sku = factory.Sequence(lambda n: f"ITEM-{n:03d}")
    name = "Trail socks"
    price = Decimal("9.00")


class ReturnRequestFactory(DjangoModelFactory[ReturnRequest]):
    class Meta:
        model = ReturnRequest

    order = factory.SubFactory(OrderFactory, status=Order.Status.DELIVERED)
    conversation = factory.SubFactory(ConversationFactory)


class CannedResponseFactory(DjangoModelFactory[CannedResponse]):
    class Meta:
        model = CannedResponse

    shortcut = factory.Sequence(lambda n: f"canned-{n}")
    title = "Thank you"
    text = "Thanks for waiting!"


class ArticleFactory(DjangoModelFactory[Article]):
    class Meta:
        model = Article

    title = "Shipping times"
    slug = factory.Sequence(lambda n: f"article-{n}")
    body = "Orders arrive in 3 to 5 working days."


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"SKU-{n:03d}")
    name = "Trail Jacket"
    category = "Jackets"
    price = Decimal("89.00")
    stock = 5


class InteractionFactory(DjangoModelFactory[Interaction]):
    class Meta:
        model = Interaction

    customer_id = factory.Sequence(lambda n: 1000 + n)
    product = factory.SubFactory(ProductFactory)
    kind = Interaction.Kind.VIEW


class IntentFactory(DjangoModelFactory[Intent]):
    class Meta:
        model = Intent

    name = factory.Sequence(lambda n: f"intent_{n}")


class TrainingExampleFactory(DjangoModelFactory[TrainingExample]):
    class Meta:
        model = TrainingExample

    text = factory.Sequence(lambda n: f"example {n}")
    intent = factory.SubFactory(IntentFactory)
    source = TrainingExample.Source.SEED


class ModelVersionFactory(DjangoModelFactory[ModelVersion]):
    """A registry row only: no artifact on disk (use ``ml.registry.register`` for a
    version that must load or activate)."""

    class Meta:
        model = ModelVersion

    kind = ModelVersion.Kind.INTENT
    version = factory.Sequence(lambda n: n + 1)
    artifact_path = ""
    sha256 = ""


class WebhookSubscriptionFactory(DjangoModelFactory[WebhookSubscription]):
    """A shop's receiver for every event (``events=[…]`` for fewer)."""

    class Meta:
        model = WebhookSubscription

    url = "http://127.0.0.1:9/hooks"
    secret = factory.Sequence(lambda n: f"whsec_test_secret_{n}")
    events = factory.LazyFunction(lambda: list(Event.values))


def api_key(*, scopes: list[str], name: str = "Shop sync", **fields: Any) -> str:
    """A new API key with ``scopes``, in clear (what the admin shows once)."""
    _, key = ApiKey.issue(name=name, scopes=scopes, **fields)
    return key


def shop_hours(hours: dict[str, str], *, timezone: str = "UTC") -> ShopSettings:
    """Set the shop's opening hours (the one settings row), e.g. every day all day
    with ``{day: "00:00-24:00" for day in WEEKDAYS}``."""
    settings = ShopSettings.load()
    settings.opening_hours = hours
    settings.timezone = timezone
    settings.save()
    return settings


ALWAYS_OPEN = {day: "00:00-24:00" for day in WEEKDAYS}
NEVER_OPEN: dict[str, str] = {}
