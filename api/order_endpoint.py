"""The shop's order endpoint: the bot looks orders up and sends changes over HTTP.

The ``http`` order source (``chatbot.order_sources``; the contract is
docs/order-lookup.md). Each call is a POST to ``<base>/lookup``, ``/cancel`` or
``/return``, signed like a webhook (``chatbot.outbound``) with the shop's order
endpoint secret, and:

- waits ``ORDER_ENDPOINT_TIMEOUT_SECONDS`` at most: a chat never hangs on the shop;
- goes through a circuit breaker (pybreaker) whose state lives in Redis, so that
  once the shop has failed ``ORDER_ENDPOINT_FAILURES`` times in a row no web or
  worker process calls it for ``ORDER_ENDPOINT_RESET_SECONDS``: customers hear at
  once that the order system is not answering, and a struggling shop is left to
  recover;
- reuses an answer for ``ORDER_LOOKUP_CACHE_SECONDS`` (the cache keeps the order's
  row id, or that there was none: no order content in Redis).

The order found is copied into Concierge's ``Order`` table through the API's own
upsert (``services.orders_upsert``), read with the API's own schema: a looked-up
order and a pushed one are one shape, so the bot's answers (status, carrier,
tracking link, delivery date, items) are the same by construction, and the one-time
codes and return requests, which belong to an order row, work for both. The shop
stays the source of truth: every lookup past the brief cache overwrites the copy.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

import pybreaker
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from pydantic import ConfigDict, ValidationError

from api import services
from api.schemas import OrderIn
from chatbot.models import Conversation, Order, ShopSettings
from chatbot.order_sources import ChangeResult, OrderBackend, OrderLookupUnavailable
from chatbot.outbound import body_bytes, opener, signature

logger = logging.getLogger(__name__)

CIRCUIT_NAMESPACE = "concierge:order-endpoint"
# Answers that are answers (the order, no such order, a refusal); anything else
# (5xx, a redirect, 401 for a wrong secret…) is a failure of the endpoint.
ANSWERS = {200, 202, 404, 409}
MAX_ANSWER_BYTES = 1_000_000


class EndpointFailure(Exception):
    """The endpoint did not answer usably: timeout, refused, 5xx, not JSON."""


class EndpointOrder(OrderIn):
    """An order as the endpoint returns it: the API's order, fields it adds are
    ignored (a shop's export often carries more than we read)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


@functools.cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def circuit() -> pybreaker.CircuitBreaker:
    """The breaker around the endpoint; its state is shared through Redis."""
    storage = pybreaker.CircuitRedisStorage(
        pybreaker.STATE_CLOSED,
        _redis(settings.REDIS_URL),
        namespace=CIRCUIT_NAMESPACE,
    )
    return pybreaker.CircuitBreaker(
        fail_max=settings.ORDER_ENDPOINT_FAILURES,
        reset_timeout=settings.ORDER_ENDPOINT_RESET_SECONDS,
        state_storage=storage,
        name="order endpoint",
    )


def cache_key(*, number: str, email: str, shopper_id: str) -> str:
    # Hashed: the email and the shopper id are not stored in the cache.
    who = f"{number.upper()}|{email.lower()}|{shopper_id}"
    return f"order-endpoint:{hashlib.sha256(who.encode()).hexdigest()[:40]}"


def post(*, url: str, secret: str, payload: dict[str, Any], timeout: float) -> Answer:
    """POST ``payload`` signed; the status and JSON body of an answer.

    Raises:
        EndpointFailure: no usable answer (see ``ANSWERS``).
    """
    body = body_bytes(payload)
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL (URLField)
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "Concierge-Orders/1",
            "X-Concierge-Timestamp": str(timestamp),
            "X-Concierge-Signature": signature(
                secret=secret, timestamp=timestamp, body=body
            ),
        },
        method="POST",
    )
    try:
        try:
            with opener.open(request, timeout=timeout) as reply:
                status, raw = reply.status, reply.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read(MAX_ANSWER_BYTES)
    except (OSError, ValueError, http.client.HTTPException) as error:
        # URLError, a timeout, a refused or reset connection, a bad URL.
        raise EndpointFailure(f"{type(error).__name__}: {error}") from error
    if status not in ANSWERS:
        raise EndpointFailure(f"HTTP {status}")
    try:
        answer = json.loads(raw or b"{}")
    except ValueError as error:
        raise EndpointFailure(f"HTTP {status} with a body that is not JSON") from error
    if not isinstance(answer, dict):
        raise EndpointFailure(f"HTTP {status} with a body that is not an object")
    return Answer(status, answer)


class OrderEndpoint(OrderBackend):
    """The shop's order endpoint over HTTP (the default ``ORDER_ENDPOINT_BACKEND``)."""

    def call(self, action: str, payload: dict[str, Any]) -> Answer:
        """POST to ``<base>/<action>`` through the breaker.

        Raises:
            OrderLookupUnavailable: failed, timed out, or the circuit is open.
        """
        shop = ShopSettings.load()
        if not shop.order_endpoint_url:
            raise OrderLookupUnavailable("no order endpoint URL in the shop settings")
        url = f"{shop.order_endpoint_url.rstrip('/')}/{action}"
        request: dict[str, Any] = {
            "url": url,
            "secret": shop.order_endpoint_secret,
            "payload": payload,
            "timeout": settings.ORDER_ENDPOINT_TIMEOUT_SECONDS,
        }
        try:
            try:
                breaker = circuit()
            except redis.RedisError:
                # Redis away: call without the breaker (each call still times out)
                # rather than fail every lookup.
                logger.warning("no circuit breaker state: Redis is not answering")
                return post(**request)
            return breaker.call(post, **request)
        except pybreaker.CircuitBreakerError as error:
            raise OrderLookupUnavailable("the order endpoint's circuit is open") from (
                error
            )
        except EndpointFailure as error:
            logger.warning("order endpoint %s failed: %s", action, error)
            raise OrderLookupUnavailable(str(error)) from error

    def find(self, *, number: str, email: str, shopper_id: str) -> Order | None:
        key = cache_key(number=number, email=email, shopper_id=shopper_id)
        known = cache.get(key)
        if known == 0:
            return None
        if known is not None and (order := Order.objects.filter(pk=known).first()):
            return order
        answer = self.call(
            "lookup",
            {
                "number": number,
                "email": email or None,
                "shopper_id": shopper_id or None,
            },
        )
        order = None
        if answer.status == 200:
            found = read_order(answer.body.get("order"))
            # Checked before anything is copied: a shop that forgot to compare the
            # email must not have someone else's order shown, nor stored here.
            if is_theirs(found, email=email, shopper_id=shopper_id):
                order = mirror(found)
        cache.set(key, order.pk if order else 0, settings.ORDER_LOOKUP_CACHE_SECONDS)
        return order

    def request_change(
        self,
        *,
        order: Order,
        kind: Literal["cancel", "return"],
        request_id: str,
        conversation: Conversation | None,
    ) -> ChangeResult:
        answer = self.call(
            kind,
            {
                "number": order.number,
                "email": order.email,
                "shopper_id": order.shopper_id or None,
                "request_id": request_id,
                "conversation": conversation.public_id if conversation else None,
            },
        )
        if answer.status == 404:
            return ChangeResult("refused", "the shop does not know this order")
        if answer.status == 409:
            return ChangeResult("refused", str(answer.body.get("reason") or ""))
        if "order" in answer.body:
            mirror(read_order(answer.body["order"]))  # as the change left it
        if answer.body.get("result") == "done":
            return ChangeResult("done")
        return ChangeResult("sent")


def read_order(data: Any) -> EndpointOrder:
    """The shop's order, read with the API's schema.

    Raises:
        OrderLookupUnavailable: the shop's answer is not an order we can read.
    """
    try:
        return EndpointOrder.model_validate(data)
    except ValidationError as error:
        logger.warning("the order endpoint returned an unreadable order: %s", error)
        raise OrderLookupUnavailable("an unreadable order") from error


def is_theirs(order: EndpointOrder, *, email: str, shopper_id: str) -> bool:
    """Whether the email or the shopper on the shop's order is the customer's."""
    by_email = bool(email) and order.email.lower() == email.lower()
    by_shopper = bool(shopper_id) and order.shopper_id == shopper_id
    return by_email or by_shopper


def mirror(order: EndpointOrder) -> Order:
    """Copy the shop's order into the ``Order`` table with the API's own upsert."""
    row = {**order.model_dump(), "fetched_at": timezone.now()}
    services.orders_upsert(orders=[row])
    return Order.objects.get(number=order.number)
