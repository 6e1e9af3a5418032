"""Where the bot finds orders and sends cancellations and returns: the order source.

``ShopSettings.order_source`` picks it (docs/order-lookup.md):

- ``local`` and ``api``: Concierge's own ``Order`` table (the demo's orders, or what
  the shop pushes through the API); :class:`LocalOrders` reads it.
- ``http``: the shop's own order endpoint, called by the backend that the
  ``ORDER_ENDPOINT_BACKEND`` setting names by dotted path (Django-style, like
  session engines): ``api.order_endpoint.OrderEndpoint`` by default, which signs
  its calls as webhooks are signed, waits a few seconds at most, stops calling a
  failing shop for a while (circuit breaker, its state in Redis) and reuses an
  answer briefly. A shop with an API of its own (say, a hosted platform's) may
  write another backend against :class:`OrderBackend`.

Every lookup leaves an :class:`~chatbot.models.OrderLookup` row (who asked for
which number, when, the outcome, how long it took; never what the order holds).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from chatbot.dialogue.decision import OrderLookupUnavailable
from chatbot.models import (
    Conversation,
    Order,
    OrderLookup,
    OrderSource,
    ShopSettings,
)


@dataclass(frozen=True)
class ChangeResult:
    """What the shop said to a cancellation or return sent to it.

    ``done``: the shop made the change; ``sent``: it took the request and will act
    (the customer waits for its confirmation); ``refused``: it won't (``reason``).
    """

    result: Literal["done", "sent", "refused"]
    reason: str = ""


class OrderBackend:
    """Finds the shop's orders and sends it changes; subclass and name it in
    ``ORDER_ENDPOINT_BACKEND`` to read orders from another system."""

    def find(self, *, number: str, email: str, shopper_id: str) -> Order | None:
        """The order with this number whose email is ``email`` or whose shopper is
        ``shopper_id`` (a verified shopper; either may be empty, never both).

        Returns the order as a row of Concierge's ``Order`` table (the bot's answers,
        the one-time codes and return requests all work on rows), or ``None`` when
        there is no such order or it is not theirs: one answer for both.

        Raises:
            OrderLookupUnavailable: the order system did not answer (in time).
        """
        raise NotImplementedError(
            "subclasses of OrderBackend must provide a find() method"
        )

    def request_change(
        self,
        *,
        order: Order,
        kind: Literal["cancel", "return"],
        request_id: str,
        conversation: Conversation | None,
    ) -> ChangeResult:
        """Ask the shop to cancel or to start a return of ``order``.

        ``request_id`` is the same for every attempt at one change: the shop makes
        it once however often it is asked.

        Raises:
            OrderLookupUnavailable: the shop did not answer; the caller retries.
        """
        raise NotImplementedError(
            "subclasses of OrderBackend must provide a request_change() method"
        )


class LocalOrders(OrderBackend):
    """Concierge's ``Order`` table: the demo's orders or those the API pushed."""

    def find(self, *, number: str, email: str, shopper_id: str) -> Order | None:
        return Order.objects.owned(number=number, email=email, shopper_id=shopper_id)


@functools.cache
def endpoint_backend() -> OrderBackend:
    """The backend of the ``http`` order source, built once per process."""
    backend = import_string(settings.ORDER_ENDPOINT_BACKEND)()
    if not isinstance(backend, OrderBackend):
        raise TypeError(f"{settings.ORDER_ENDPOINT_BACKEND} is not an OrderBackend")
    return backend


@receiver(setting_changed)
def _backend_setting_changed(*, setting: str, **kwargs: object) -> None:
    # Tests swap the backend with override_settings.
    if setting == "ORDER_ENDPOINT_BACKEND":
        endpoint_backend.cache_clear()


def backend_for(source: str) -> OrderBackend:
    if source == OrderSource.HTTP:
        return endpoint_backend()
    return LocalOrders()


def find_order(
    *,
    number: str,
    email: str = "",
    shopper_id: str = "",
    conversation_id: int | None = None,
) -> Order | None:
    """The order, from the shop's order source; each lookup is traced.

    Raises:
        OrderLookupUnavailable: the shop's order system is not answering.
    """
    if not (email or shopper_id):
        return None  # an order number alone never finds an order
    source = ShopSettings.load().order_source
    started = time.monotonic()
    outcome = OrderLookup.Outcome.UNAVAILABLE
    try:
        order = backend_for(source).find(
            number=number, email=email, shopper_id=shopper_id
        )
        outcome = OrderLookup.Outcome.FOUND if order else OrderLookup.Outcome.NOT_FOUND
        return order
    finally:
        OrderLookup.objects.create(
            conversation_id=conversation_id,
            number=number[:20],
            source=source,
            outcome=outcome,
            duration_ms=int((time.monotonic() - started) * 1000),
        )


__all__ = [
    "ChangeResult",
    "LocalOrders",
    "OrderBackend",
    "OrderLookupUnavailable",
    "backend_for",
    "find_order",
]
