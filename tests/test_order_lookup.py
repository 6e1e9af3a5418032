"""Orders from the shop's own system: the bot against a real HTTP order endpoint.

``tests/shop_server.py`` is the reference endpoint of docs/order-lookup.md, served
on a local port; real PostgreSQL and Redis (the cache and the circuit breaker's
state). Each case checks what the customer is told: found, unknown order, wrong
email, a slow shop, a failing shop, an open circuit; and that nothing hangs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from api import services as api_services
from api.models import WebhookDelivery
from api.order_endpoint import circuit
from chatbot import services
from chatbot.dialogue import limits, shipping
from chatbot.dialogue.decision import LookupKeys
from chatbot.events import Event
from chatbot.models import (
    Conversation,
    Message,
    Order,
    OrderActionCode,
    OrderLookup,
    ShopSettings,
)
from chatbot.tasks import send_order_change
from tests.chat import said
from tests.factories import (
    ConversationFactory,
    CustomerFactory,
    MessageFactory,
    WebhookSubscriptionFactory,
)
from tests.shop_server import Shop, running
from tests.test_webhooks import documented_verify

pytestmark = pytest.mark.django_db

SECRET = "ordsec_test-secret-of-the-shop-0123456789"


def shop_order(number: str = "NW-10234", **fields: Any) -> dict[str, Any]:
    """An order as the shop's endpoint returns it (the API's order JSON)."""
    return {
        "number": number,
        "email": "alice@example.com",
        "customer_name": "Alice",
        "shopper_id": "cust-42",
        "status": "shipped",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "eta": "2026-12-04",
        "placed_at": "2026-11-28T10:00:00+00:00",
        "total": "129.00",
        "items": [
            {"sku": "BOOT-1", "name": "Ridge boot", "quantity": 1, "price": "129.00"}
        ],
        **fields,
    }


@pytest.fixture
def shop(settings: Any) -> Iterator[Shop]:
    """The shop's endpoint, running, and the bot's settings pointing at it."""
    settings.ORDER_ENDPOINT_TIMEOUT_SECONDS = 1
    settings.ORDER_ENDPOINT_FAILURES = 3
    settings.ORDER_ENDPOINT_RESET_SECONDS = 2
    cache.clear()  # earlier tests' answers and lookup failures
    circuit().close()
    the_shop = Shop(secret=SECRET, orders={"NW-10234": shop_order()})
    with running(the_shop) as url:
        row = ShopSettings.load()
        row.order_source = "http"
        row.order_endpoint_url = url
        row.order_endpoint_secret = SECRET
        row.save()
        yield the_shop
    circuit().close()


def asking(slot: str, *, slots: dict[str, str], form: str) -> dict[str, Any]:
    """A conversation's state while ``form`` asks for ``slot``."""
    return {
        "form": {
            "name": form,
            "slots": slots,
            "asking": slot,
            "lookups": 0,
            "misses": 0,
        }
    }


def asking_email(number: str, form: str = "order_status") -> dict[str, Any]:
    return asking("email", slots={"order_number": number}, form=form)


def asking_number() -> dict[str, Any]:
    return asking("order_number", slots={}, form="order_status")


def reply_to(conversation: Conversation, text: str, **fields: Any) -> Message:
    message = MessageFactory.create(conversation=conversation, text=text, **fields)
    reply = services.bot_reply(message_id=message.pk)
    assert reply is not None
    return reply


def looks_up(number: str, email: str = "alice@example.com") -> Message:
    """A customer who gave ``number`` answers the bot's question for the email."""
    conversation = ConversationFactory.create(state=asking_email(number))
    return reply_to(conversation, email)


def test_it_tells_the_shops_order_as_it_tells_a_pushed_one(shop):
    reply = looks_up("NW-10234")
    assert said("order_status", reply.text)
    assert "UPS" in reply.text
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in reply.text
    assert "Friday, December 4" in reply.text
    (call,) = shop.calls("/lookup")
    assert call == {
        "number": "NW-10234",
        "email": "alice@example.com",
        "shopper_id": None,
    }
    # The same order pushed through the API reads the same, word for word.
    looked_up = Order.objects.get(number="NW-10234")
    looked_up.delete()
    api_services.orders_upsert(orders=[shop_order()])
    pushed = Order.objects.get(number="NW-10234")
    assert shipping.details(pushed) in reply.text
    assert list(pushed.items.values_list("sku", "quantity")) == [("BOOT-1", 1)]


def test_it_keeps_a_copy_the_shop_overwrites(shop):
    looks_up("NW-10234")
    copy = Order.objects.get(number="NW-10234")
    assert copy.fetched_at is not None
    assert list(copy.items.values_list("name", flat=True)) == ["Ridge boot"]
    shop.orders["NW-10234"]["status"] = "delivered"
    shop.orders["NW-10234"]["delivered_at"] = "2026-11-30T15:00:00+00:00"
    cache.clear()  # past the brief cache
    reply = looks_up("NW-10234")
    assert "delivered" in reply.text
    copy.refresh_from_db()
    assert copy.status == Order.Status.DELIVERED


def test_it_says_not_found_for_an_unknown_order(shop):
    reply = looks_up("NW-99999")
    assert said("order_not_found", reply.text)
    assert not Order.objects.filter(number="NW-99999").exists()
    assert OrderLookup.objects.get().outcome == OrderLookup.Outcome.NOT_FOUND


def test_it_says_not_found_for_the_wrong_email_and_copies_nothing(shop):
    reply = looks_up("NW-10234", email="mallory@example.com")
    assert said("order_not_found", reply.text)
    assert not Order.objects.filter(number="NW-10234").exists()


def test_it_never_shows_an_order_a_careless_shop_returns_for_another_email(shop):
    shop.owned = lambda payload: shop.orders["NW-10234"]
    reply = looks_up("NW-10234", email="mallory@example.com")
    assert said("order_not_found", reply.text)
    assert not Order.objects.filter(number="NW-10234").exists()


def test_a_slow_shop_gets_a_prompt_answer_not_a_hang(shop):
    shop.delay = 3
    started = time.monotonic()
    reply = looks_up("NW-10234")
    assert time.monotonic() - started < 2.5
    assert said("order_lookup_unavailable", reply.text)
    assert reply.payload["quick_replies"][0]["payload"] == {"action": "handoff"}
    lookup = OrderLookup.objects.get()
    assert lookup.outcome == OrderLookup.Outcome.UNAVAILABLE
    assert lookup.duration_ms >= 900


def test_a_failing_shop_is_never_taken_for_a_missing_order(shop):
    shop.fail_with = 500
    reply = looks_up("NW-10234")
    assert said("order_lookup_unavailable", reply.text)
    assert not said("order_not_found", reply.text, within=True)
    # The shop's fault is not counted against the customer's lookups.
    keys = LookupKeys(client=None, email="alice@example.com", number="NW-10234")
    assert limits.lookup_wait(client=None, email=keys.email, number=keys.number) == 0
    conversation = reply.conversation
    conversation.refresh_from_db()
    assert conversation.state.get("failed_turns", 0) == 0


def test_an_open_circuit_answers_at_once_without_calling_the_shop(shop):
    shop.fail_with = 503
    for _ in range(3):  # ORDER_ENDPOINT_FAILURES
        assert said("order_lookup_unavailable", looks_up("NW-10234").text)
    calls = len(shop.requests)
    shop.fail_with = None  # the shop is back, but the circuit is open
    started = time.monotonic()
    reply = looks_up("NW-10234")
    assert said("order_lookup_unavailable", reply.text)
    assert len(shop.requests) == calls
    assert time.monotonic() - started < 0.5
    time.sleep(2.1)  # ORDER_ENDPOINT_RESET_SECONDS: one call is tried again
    assert said("order_status", looks_up("NW-10234").text)
    assert len(shop.requests) == calls + 1


def test_the_circuit_is_shared_through_redis(shop):
    shop.fail_with = 500
    for _ in range(3):
        looks_up("NW-10234")
    # Another process builds its own breaker: it reads the same open state.
    assert circuit().current_state == "open"


def test_it_signs_every_call_and_a_wrong_secret_finds_nothing(shop):
    looks_up("NW-10234")
    assert shop.unsigned == 0
    ShopSettings.objects.update(order_endpoint_secret="ordsec_not-the-shops-secret")
    cache.clear()
    reply = looks_up("NW-10234")
    assert shop.unsigned == 1
    assert said("order_lookup_unavailable", reply.text)


def test_the_webhooks_documented_verify_accepts_the_endpoints_requests(shop):
    looks_up("NW-10234")
    ((headers, body),) = shop.signed
    verify = documented_verify()
    assert verify(SECRET, headers, body)
    assert not verify("ordsec_another-secret", headers, body)
    assert headers["User-Agent"] == "Concierge-Orders/1"


def test_it_reuses_an_answer_briefly(shop):
    looks_up("NW-10234")
    looks_up("NW-10234")
    assert len(shop.calls("/lookup")) == 1


def test_a_verified_shopper_is_not_asked_for_the_email(shop):
    customer = CustomerFactory.create(external_id="cust-42")
    conversation = ConversationFactory.create(
        customer=customer,
        state=asking_number(),
    )
    reply = reply_to(conversation, "NW-10234")
    assert said("order_status", reply.text)
    assert shop.calls("/lookup") == [
        {"number": "NW-10234", "email": None, "shopper_id": "cust-42"}
    ]


def test_a_shopper_whose_order_is_not_theirs_is_asked_for_the_email(shop):
    customer = CustomerFactory.create(external_id="cust-7")
    conversation = ConversationFactory.create(
        customer=customer,
        state=asking_number(),
    )
    reply = reply_to(conversation, "NW-10234")
    assert said("ask_order_email", reply.text)
    assert said("order_status", reply_to(conversation, "alice@example.com").text)


def test_an_unverified_customer_is_never_looked_up_by_a_shopper_id(shop):
    # The id a customer types is just text: only Customer.external_id counts.
    conversation = ConversationFactory.create(
        state=asking_number(),
    )
    reply = reply_to(conversation, "NW-10234")
    assert said("ask_order_email", reply.text)
    assert shop.calls("/lookup") == []


# --- cancel and return reach the shop ---------------------------------------------


def code_typed(
    number: str, action: str, *, answer: Any
) -> tuple[Conversation, Message, Order]:
    """A customer who confirmed ``action`` and now types the mailed code."""
    looks_up(number)  # the order's copy, as a real conversation would have it
    order = Order.objects.get(number=number)
    conversation = ConversationFactory.create(
        state={
            "form": {
                "name": action,
                "slots": {
                    "order_number": number,
                    "email": order.email,
                    "confirm": True,
                },
                "asking": "code",
                "codes_sent": 1,
                "found": [number, order.email],
                "lookups": 0,
                "misses": 0,
            }
        }
    )
    _, code = OrderActionCode.issue(
        order_id=order.pk, action=action, now=timezone.now()
    )
    message = MessageFactory.create(conversation=conversation, text=code)
    reply = answer(message)
    return conversation, reply, order


@pytest.fixture
def answer(django_capture_on_commit_callbacks: Any) -> Any:
    def run(message: Message) -> Message | None:
        with django_capture_on_commit_callbacks(execute=True):
            return services.bot_reply(message_id=message.pk)

    return run


def sent_change(conversation: Conversation, order: Order, kind: str) -> Any:
    """What the webhooks worker does with the change the reply enqueued."""
    code = OrderActionCode.objects.get(order=order, action=kind)
    request_id = f"{kind}-{order.number}-{code.pk}"
    return send_order_change.apply(
        args=[order.pk, kind, conversation.pk, request_id]
    ).get()


def test_a_cancellation_is_sent_and_told_as_sent_until_the_shop_confirms(shop, answer):
    shop.orders["NW-10234"]["status"] = "processing"
    conversation, reply, order = code_typed("NW-10234", "cancel", answer=answer)
    assert said("cancel_sent", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING  # not cancelled yet
    assert sent_change(conversation, order, "cancel") == "done"
    (call,) = shop.calls("/cancel")
    assert call["number"] == "NW-10234"
    assert call["conversation"] == conversation.public_id
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    told = conversation.messages.filter(sender=Message.Sender.BOT).last()
    assert told is not None and said("order_change_done", told.text)
    # Sent twice (a redelivered task): the shop changes it once, we say it once.
    assert sent_change(conversation, order, "cancel") == "done"
    assert len(shop.changes) == 1
    assert conversation.messages.filter(text=told.text).count() == 1


def test_a_shop_that_takes_a_cancellation_for_later_leaves_it_sent(shop, answer):
    shop.orders["NW-10234"]["status"] = "placed"
    shop.action = "sent"
    conversation, reply, order = code_typed("NW-10234", "cancel", answer=answer)
    assert said("cancel_sent", reply.text)
    assert sent_change(conversation, order, "cancel") == "sent"
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    last = conversation.messages.filter(sender=Message.Sender.BOT).last()
    assert last is not None and said("cancel_sent", last.text)


def test_a_refused_return_goes_to_a_person(shop, answer):
    shop.orders["NW-10234"].update(
        status="delivered", delivered_at=timezone.now().isoformat()
    )
    shop.action = "refuse"
    conversation, reply, order = code_typed("NW-10234", "return", answer=answer)
    assert said("return_sent", reply.text)
    assert sent_change(conversation, order, "return") == "refused"
    told = conversation.messages.filter(sender=Message.Sender.BOT).last()
    assert told is not None and said("order_change_refused", told.text)
    assert "it has already shipped" in told.text
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING_FOR_AGENT
    assert not hasattr(Order.objects.get(pk=order.pk), "return_request")


def test_a_change_the_shop_never_answers_goes_to_a_person(shop, answer, settings):
    shop.orders["NW-10234"]["status"] = "placed"
    conversation, reply, order = code_typed("NW-10234", "cancel", answer=answer)
    assert said("cancel_sent", reply.text)
    shop.fail_with = 500
    code = OrderActionCode.objects.get(order=order, action="cancel")
    request_id = f"cancel-{order.number}-{code.pk}"
    # The last retry: the task gives up and a person takes over.
    result = send_order_change.apply(
        args=[order.pk, "cancel", conversation.pk, request_id], retries=6
    ).get()
    assert result is None
    told = conversation.messages.filter(sender=Message.Sender.BOT).last()
    assert told is not None and said("order_change_failed", told.text)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.WAITING_FOR_AGENT
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED


def test_pushed_orders_send_the_change_as_a_webhook(answer):
    row = ShopSettings.load()
    row.order_source = "api"
    row.save()
    api_services.orders_upsert(orders=[shop_order(status="placed")])
    subscription = WebhookSubscriptionFactory.create(
        events=[Event.ORDER_CANCEL_REQUESTED]
    )
    order = Order.objects.get(number="NW-10234")
    conversation = ConversationFactory.create(
        state={
            "form": {
                "name": "cancel",
                "slots": {
                    "order_number": order.number,
                    "email": order.email,
                    "confirm": True,
                },
                "asking": "code",
                "codes_sent": 1,
                "found": [order.number, order.email],
                "lookups": 0,
                "misses": 0,
            }
        }
    )
    _, code = OrderActionCode.issue(
        order_id=order.pk, action="cancel", now=timezone.now()
    )
    reply = answer(MessageFactory.create(conversation=conversation, text=code))
    assert reply is not None and said("cancel_sent", reply.text)
    order.refresh_from_db()
    assert order.status == Order.Status.PLACED
    delivery = WebhookDelivery.objects.get(
        subscription=subscription, event=Event.ORDER_CANCEL_REQUESTED
    )
    assert delivery.payload["data"]["order"] == {
        "number": "NW-10234",
        "shopper_id": "cust-42",
        "request_id": f"cancel-NW-10234-{OrderActionCode.objects.get().pk}",
        "action": "cancel",
    }
    assert "alice@example.com" not in str(delivery.payload)
    # The shop cancels and pushes the order back: the bot now says it is cancelled.
    api_services.orders_upsert(orders=[shop_order(status="cancelled")])
    assert "cancelled" in looks_up("NW-10234").text


def test_pushed_orders_are_found_by_a_verified_shopper(answer):
    api_services.orders_upsert(orders=[shop_order(status="placed")])
    customer = CustomerFactory.create(external_id="cust-42")
    conversation = ConversationFactory.create(
        customer=customer,
        state=asking_number(),
    )
    reply = reply_to(conversation, "NW-10234")
    assert said("order_status", reply.text)
    lookup = OrderLookup.objects.get()
    assert (lookup.conversation, lookup.number, lookup.source) == (
        conversation,
        "NW-10234",
        "local",
    )
