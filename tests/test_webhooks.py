"""Webhooks out: the chat's events reach a real HTTP receiver, signed, retried,
logged; a slow receiver never sits in the chat's path."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from api import webhooks
from api.models import WebhookDelivery
from api.tasks import deliver_webhook, sweep_webhooks
from chatbot import services
from chatbot.console import services as console
from chatbot.events import Event
from chatbot.models import Conversation, Message
from config import celery_app
from tests.factories import (
    AgentFactory,
    ConversationFactory,
    WebhookSubscriptionFactory,
)

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"


def documented_verify() -> Callable[..., bool]:
    """``verify`` exactly as docs/webhooks.md gives it to the shop's developers."""
    text = DOCS.read_text()
    section = text[text.index("## Verifying a delivery") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(snippet.group(1), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


@dataclass
class Received:
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A shop's webhook endpoint: a real HTTP server in a thread.

    ``statuses``: what it answers, in turn (then 200); ``delay``: seconds it waits
    before answering.
    """

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(Received(headers=self.headers, body=body))
            if state.delay:
                time.sleep(state.delay)
            status = state.statuses.pop(0) if state.statuses else 200
            answer = b"thanks" if status < 300 else b"try again later"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the caller gave up waiting

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/concierge"
    yield state
    server.shutdown()
    server.server_close()


def agent_message(conversation: Conversation, text: str) -> Message:
    message, _ = services.message_store(
        conversation_id=conversation.pk, sender=Message.Sender.AGENT, text=text
    )
    return message


def due_now(delivery: WebhookDelivery) -> None:
    """Let the time until the next attempt pass."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now()
    )


def wait_before_next(delivery: WebhookDelivery) -> timedelta:
    assert delivery.next_attempt_at is not None
    assert delivery.last_attempt_at is not None
    return delivery.next_attempt_at - delivery.last_attempt_at


# --- Delivery ---------------------------------------------------------------------


def test_it_posts_a_signed_event_that_the_receiver_verifies_as_documented(
    receiver, alice, eager_tasks, django_capture_on_commit_callbacks
):
    subscription = WebhookSubscriptionFactory.create(
        url=receiver.url, events=[Event.MESSAGE_STORED]
    )
    conversation = ConversationFactory.create(customer=alice)
    with django_capture_on_commit_callbacks(execute=True):
        agent_message(conversation, "Your parcel left our warehouse this morning.")

    [request] = receiver.requests
    verify = documented_verify()
    assert verify(subscription.secret, request.headers, request.body)
    event = request.json()
    assert event["type"] == "message.stored"
    assert request.headers["X-Concierge-Event"] == "message.stored"
    assert request.headers["X-Concierge-Event-Id"] == event["id"]
    assert event["data"]["conversation"]["id"] == conversation.public_id
    assert event["data"]["conversation"]["customer"] == str(alice.uuid)
    assert event["data"]["message"]["text"] == (
        "Your parcel left our warehouse this morning."
    )
    # The customer's email and name stay out of the payload.
    assert alice.email not in request.body.decode()
    assert "Alice" not in request.body.decode()

    # What a forger or a replayer sends is refused by the same function.
    assert not verify("whsec_someone_elses", request.headers, request.body)
    assert not verify(subscription.secret, request.headers, request.body + b" ")
    timestamp = int(request.headers["X-Concierge-Timestamp"])
    assert not verify(
        subscription.secret, request.headers, request.body, now=timestamp + 600
    )

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        "delivered",
        1,
        200,
    )
    assert delivery.response_body == "thanks"


def test_it_retries_a_receiver_that_fails_twice_then_succeeds(
    receiver, alice, eager_tasks, django_capture_on_commit_callbacks
):
    receiver.statuses = [500, 503]
    subscription = WebhookSubscriptionFactory.create(
        url=receiver.url, events=[Event.MESSAGE_STORED]
    )
    conversation = ConversationFactory.create(customer=alice)
    with django_capture_on_commit_callbacks(execute=True):
        agent_message(conversation, "We've refunded the difference.")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        "pending",
        1,
        500,
    )
    assert wait_before_next(delivery) == timedelta(seconds=30)
    # Not due yet: the sweep leaves it.
    sweep_webhooks.delay()
    assert len(receiver.requests) == 1

    due_now(delivery)
    sweep_webhooks.delay()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        "pending",
        2,
        503,
    )
    assert delivery.response_body == "try again later"
    assert wait_before_next(delivery) == timedelta(seconds=60)

    due_now(delivery)
    sweep_webhooks.delay()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        "delivered",
        3,
        200,
    )
    assert delivery.next_attempt_at is None
    # The same event each time, each time freshly signed.
    verify = documented_verify()
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1
    assert len({r.headers["X-Concierge-Event-Id"] for r in receiver.requests}) == 1
    assert all(
        verify(subscription.secret, r.headers, r.body) for r in receiver.requests
    )


def test_it_gives_up_a_day_after_the_event(receiver, alice, eager_tasks):
    receiver.statuses = [500, 500]
    subscription = WebhookSubscriptionFactory.create(url=receiver.url)
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=Event.RESOLVED,
        payload={"id": "x", "type": "conversation.resolved"},
        next_attempt_at=timezone.now(),
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created=timezone.now() - timedelta(hours=23, minutes=59, seconds=45)
    )
    deliver_webhook.delay(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)

    # A resend from the admin's log is a new delivery of the same event.
    again = webhooks.delivery_resend(delivery)
    deliver_webhook.delay(again.pk)
    again.refresh_from_db()
    assert again.event_id == delivery.event_id
    assert again.status == "pending"  # the receiver still answers 500
    deliver_webhook.delay(again.pk)  # not due: nothing is sent
    assert len(receiver.requests) == 2
    due_now(again)
    deliver_webhook.delay(again.pk)
    again.refresh_from_db()
    assert again.status == "delivered"


def test_it_gives_a_slow_receiver_its_timeout_and_tries_again_later(
    receiver, alice, eager_tasks, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.delay = 3
    subscription = WebhookSubscriptionFactory.create(url=receiver.url)
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=Event.STARTED,
        payload={"id": "y", "type": "conversation.started"},
        next_attempt_at=timezone.now(),
    )
    deliver_webhook.delay(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert delivery.response_code is None
    assert "timed out" in delivery.error
    assert wait_before_next(delivery) == timedelta(seconds=30)


def test_it_logs_a_refused_connection_and_a_redirect_as_failures(receiver, eager_tasks):
    refused = WebhookSubscriptionFactory.create(url="http://127.0.0.1:9/hooks")
    receiver.statuses = [302]
    redirected = WebhookSubscriptionFactory.create(url=receiver.url)
    for subscription in (refused, redirected):
        delivery = WebhookDelivery.objects.create(
            subscription=subscription,
            event=Event.STARTED,
            payload={"id": "z"},
            next_attempt_at=timezone.now(),
        )
        deliver_webhook.delay(delivery.pk)
    refused_delivery, redirected_delivery = WebhookDelivery.objects.order_by("pk")
    assert refused_delivery.status == "pending"
    assert "refused" in refused_delivery.error.lower()
    assert (redirected_delivery.status, redirected_delivery.response_code) == (
        "pending",
        302,
    )
    assert len(receiver.requests) == 1


def test_it_sends_a_delivery_once_when_its_task_runs_twice(receiver, eager_tasks):
    subscription = WebhookSubscriptionFactory.create(url=receiver.url)
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=Event.STARTED,
        payload={"id": "w"},
        next_attempt_at=timezone.now(),
    )
    deliver_webhook.delay(delivery.pk)
    deliver_webhook.delay(delivery.pk)
    assert len(receiver.requests) == 1


# --- Off the chat's path ----------------------------------------------------------


def test_it_keeps_the_receiver_out_of_the_chats_transaction(
    receiver, alice, django_capture_on_commit_callbacks
):
    WebhookSubscriptionFactory.create(url=receiver.url)
    conversation = ConversationFactory.create(customer=alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        agent_message(conversation, "Here's your tracking link.")
    # The delivery is written with the message; nothing is sent before the commit,
    # and then only by a task on the webhooks queue.
    assert WebhookDelivery.objects.get().status == "pending"
    assert receiver.requests == []
    assert any(
        getattr(callback, "__qualname__", "").startswith("event_received")
        for callback in callbacks
    )
    route = celery_app.amqp.router.route({}, "api.tasks.deliver_webhook")
    assert route["queue"].name == "webhooks"
    assert (
        celery_app.amqp.router.route({}, "api.tasks.sweep_webhooks")["queue"].name
        == "webhooks"
    )


def test_it_writes_no_delivery_for_a_change_that_rolled_back(alice):
    WebhookSubscriptionFactory.create()
    conversation = ConversationFactory.create(customer=alice)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        agent_message(conversation, "This never happened.")
        raise Rollback
    assert not WebhookDelivery.objects.exists()


# --- Where the events come from ---------------------------------------------------


def test_it_announces_each_event_where_it_happens(alice):
    everything = WebhookSubscriptionFactory.create()
    resolutions = WebhookSubscriptionFactory.create(events=[Event.RESOLVED])
    WebhookSubscriptionFactory.create(active=False)
    agent = AgentFactory.create(username="dave")

    conversation = services.conversation_for_customer(customer=alice, public_id=None)
    assert conversation is not None
    services.message_store(
        conversation_id=conversation.pk,
        sender=Message.Sender.CUSTOMER,
        text="i want to talk to a human pls",
        client_msg_id="m-1",
    )
    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=conversation.pk)
        conversation.queue_for_agent()
    console.conversation_take(conversation_id=conversation.pk, agent=agent)
    console.conversation_resolve(conversation_id=conversation.pk, agent=agent)
    conversation.refresh_from_db()
    services.csat_record(conversation=conversation, score=4, comment="quick, thanks")

    sent = WebhookDelivery.objects.filter(subscription=everything).order_by("pk")
    assert [d.event for d in sent] == [
        "conversation.started",
        "message.stored",
        "conversation.handed_over",
        "conversation.taken",
        "conversation.resolved",
        "conversation.csat_received",
    ]
    payloads = {d.event: d.payload["data"] for d in sent}
    assert payloads["conversation.taken"]["agent"] == {
        "id": agent.pk,
        "username": "dave",
    }
    assert payloads["conversation.resolved"]["conversation"]["status"] == "resolved"
    assert payloads["conversation.csat_received"]["csat"] == {
        "score": 4,
        "comment": "quick, thanks",
    }
    assert [d.event for d in resolutions.deliveries.all()] == ["conversation.resolved"]
    assert WebhookDelivery.objects.count() == 7
    # One event id per event, shared by its subscriptions' deliveries.
    resolved = WebhookDelivery.objects.filter(event=Event.RESOLVED)
    assert len({d.event_id for d in resolved}) == 1


def test_it_writes_nothing_when_nobody_subscribed(alice):
    conversation = services.conversation_for_customer(customer=alice, public_id=None)
    assert conversation is not None
    agent_message(conversation, "Hello!")
    assert not WebhookDelivery.objects.exists()


# --- The admin's log --------------------------------------------------------------


@pytest.fixture
def superbob(bob: Any, settings: Any) -> Any:
    settings.SECURE_SSL_REDIRECT = False
    bob.is_superuser = True
    bob.save()
    return bob


def test_it_shows_the_delivery_log_and_resends_from_it(
    client, superbob, receiver, alice, eager_tasks, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    subscription = WebhookSubscriptionFactory.create(url=receiver.url)
    conversation = ConversationFactory.create(customer=alice)
    with django_capture_on_commit_callbacks(execute=True):
        agent_message(conversation, "Sorry for the wait.")
    failed = WebhookDelivery.objects.get()
    client.force_login(superbob)
    page = client.get("/admin/api/webhookdelivery/").content.decode()
    assert "message.stored" in page
    assert "500" in page
    detail = client.get(f"/admin/api/webhookdelivery/{failed.pk}/change/")
    assert "try again later" in detail.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/api/webhookdelivery/",
            {"action": "resend", "_selected_action": [failed.pk]},
        )
    assert response.status_code == 302
    resent = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (resent.status, resent.event_id) == ("delivered", failed.event_id)
    assert resent.subscription == subscription
    assert len(receiver.requests) == 2


def test_it_lets_staff_pick_events_for_a_subscription_in_the_admin(client, superbob):
    client.force_login(superbob)
    response = client.post(
        "/admin/api/webhooksubscription/add/",
        {
            "url": "https://shop.example.com/hooks/concierge",
            "description": "Help desk",
            "events": ["conversation.handed_over", "conversation.resolved"],
            "active": "on",
            "secret": "whsec_from_the_form",
        },
    )
    assert response.status_code == 302, response.content
    from api.models import WebhookSubscription

    subscription = WebhookSubscription.objects.get()
    assert subscription.events == ["conversation.handed_over", "conversation.resolved"]


# --- End to end -------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_of_the_webhooks_queue_delivers_a_committed_event(
    receiver, alice, tmp_path
):
    from tests.live import child_env, worker_process

    subscription = WebhookSubscriptionFactory.create(
        url=receiver.url, events=[Event.MESSAGE_STORED]
    )
    conversation = ConversationFactory.create(customer=alice)
    worker = worker_process(tmp_path, queues="webhooks")
    worker.start(child_env())
    try:
        agent_message(conversation, "Your replacement ships tomorrow.")
        deadline = time.monotonic() + 60
        delivery = WebhookDelivery.objects.get()
        while delivery.status == "pending" and time.monotonic() < deadline:
            time.sleep(0.2)
            delivery.refresh_from_db()
    finally:
        worker.stop()
    assert delivery.status == "delivered", worker.output()[-2000:]
    [request] = receiver.requests
    assert documented_verify()(subscription.secret, request.headers, request.body)
    assert request.json()["data"]["message"]["text"] == (
        "Your replacement ships tomorrow."
    )
