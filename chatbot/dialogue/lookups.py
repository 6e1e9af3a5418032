"""The policy's read-only lookups, answered from the live shop."""

from __future__ import annotations

import functools
from datetime import timedelta

from django.utils import timezone

from chatbot import order_sources, selectors
from chatbot.dialogue import limits
from chatbot.dialogue.decision import CodeCheck, Lookups
from chatbot.dialogue.knowledge import Answers
from chatbot.dialogue.responses import say
from chatbot.models import Order, OrderActionCode, current_shop
from recommender import search
from recommender.models import Interaction
from recommender.serving import recommend_for

VIEWING_WINDOW = timedelta(minutes=30)
CART_WINDOW = timedelta(days=1)


# A signed-in shopper is offered at most this many of their orders to choose from.
SHOPPER_ORDERS_SHOWN = 5


def shopper_orders(*, email: str, shopper_id: str) -> list[Order]:
    """A signed-in shopper's latest orders, newest first: those placed with the
    email the shop signed for them, or carrying their shopper id."""
    mine = Order.objects.belonging_to(email=email, shopper_id=shopper_id)
    latest = mine.order_by("-placed_at")
    return list(latest[:SHOPPER_ORDERS_SHOWN])


def check_code(*, order_id: int, action: str, code: str) -> CodeCheck:
    """Compare ``code`` with the live code mailed for ``action`` on the order."""
    live = (
        OrderActionCode.objects.filter(order_id=order_id, action=action, used=None)
        .order_by("-created")
        .first()
    )
    if live is None or not live.usable(now=timezone.now()):
        return CodeCheck("expired")
    if live.matches(code):
        return CodeCheck("match", code_id=live.pk)
    left = OrderActionCode.MAX_ATTEMPTS - live.attempts - 1
    return CodeCheck("wrong", code_id=live.pk, attempts_left=max(0, left))


def shopping_context(customer_id: int | None) -> tuple[str | None, list[str]]:
    """The product the customer viewed last (recently) and what is in their cart."""
    if customer_id is None:
        return None, []
    now = timezone.now()
    recent = Interaction.objects.filter(customer_id=customer_id)
    viewing = (
        recent.filter(kind="view", created__gte=now - VIEWING_WINDOW)
        .order_by("-created")
        .values_list("product__sku", flat=True)
        .first()
    )
    cart = list(
        recent.filter(kind="add_to_cart", created__gte=now - CART_WINDOW)
        .order_by("created")
        .values_list("product__sku", flat=True)
        .distinct()
    )
    return viewing, cart


def live_lookups(*, conversation_id: int | None = None) -> Lookups:
    # One per reply: the shop's settings are read once, the question is embedded
    # once, and every answer and search of the reply reuses them. Order lookups
    # are traced against ``conversation_id``.
    shop = functools.cache(current_shop)
    answers = Answers(shop=shop)
    return Lookups(
        say=say,
        search_products=search.search,
        recommend_for=recommend_for,
        shopping_context=shopping_context,
        find_order=functools.partial(
            order_sources.find_order, conversation_id=conversation_id
        ),
        lookup_wait=limits.lookup_wait,
        check_code=check_code,
        queue=selectors.queue_estimate,
        now=timezone.now,
        shop=shop,
        linked_articles=answers.linked_articles,
        find_passage=answers.find_passage,
        find_products=search.products_by_sku,
        product_named=search.product_named,
        shopper_orders=shopper_orders,
    )
