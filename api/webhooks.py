"""Webhooks out: the chat's events, written as deliveries and POSTed, signed.

``chatbot.events`` announces an event inside the transaction that made it happen;
the receiver here writes one ``WebhookDelivery`` per subscription in that same
transaction (an outbox: the event and its deliveries commit together) and enqueues
their delivery after the commit. The HTTP request runs in a Celery worker on the
``webhooks`` queue, under a timeout, so a slow or dead receiver never slows a chat.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.models import WebhookDelivery, WebhookSubscription
from chatbot.events import Event, conversation_event
from chatbot.models import Boundary, Conversation, Message, Order, ShopSettings
from chatbot.outbound import body_bytes, opener

logger = logging.getLogger(__name__)

# What of a receiver's answer the log keeps.
RESPONSE_EXCERPT = 500
DISPATCH_UID = "api.webhooks.deliveries"


def connect() -> None:
    """Connect the receiver (from ``ApiConfig.ready``)."""
    conversation_event.connect(event_received, dispatch_uid=DISPATCH_UID)


def event_received(
    sender: Any,
    *,
    event: Event,
    conversation: Conversation,
    data: dict[str, Any],
    **kwargs: Any,
) -> None:
    """Write a delivery per subscription to ``event``; send them after the commit."""
    subscriptions = list(
        WebhookSubscription.objects.filter(active=True, events__contains=[event])
    )
    if not subscriptions:
        return
    payload = event_payload(event, conversation=conversation, data=data)
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription,
            event=event,
            event_id=payload["id"],
            payload=payload,
            next_attempt_at=now,
        )
        for subscription in subscriptions
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: deliveries_enqueue(ids))


def event_payload(
    event: Event, *, conversation: Conversation, data: dict[str, Any]
) -> dict[str, Any]:
    """The body of an event: what the shop needs to act, and no more.

    No email, name or address of the customer: the shop reads those through the API
    (``conversations:read``) if it needs them. The customer is named by their id.
    What the customer wrote is redacted as every export is (``Boundary.EXPORT``).
    """
    body: dict[str, Any] = {
        "conversation": {
            "id": conversation.public_id,
            "status": conversation.status,
            "customer": str(conversation.customer.uuid),
            "created": conversation.created.isoformat(),
        }
    }
    if event in (Event.TAKEN, Event.RESOLVED):
        body["agent"] = _agent(conversation)
    if event == Event.CSAT_RECEIVED:
        body["csat"] = {"score": data["score"], "comment": _kept(data["comment"])}
    if event in (Event.ORDER_CANCEL_REQUESTED, Event.ORDER_RETURN_REQUESTED):
        # The shop acts on it (cancels, or sends a return label), then pushes the
        # order's new status through the API; the same request_id may arrive twice.
        order: Order = data["order"]
        body["order"] = {
            "number": order.number,
            "shopper_id": order.shopper_id or None,
            "request_id": data["request_id"],
            "action": "cancel" if event == Event.ORDER_CANCEL_REQUESTED else "return",
        }
    if event == Event.MESSAGE_STORED:
        message: Message = data["message"]
        body["message"] = {
            "seq": message.seq,
            "sender": message.sender,
            "text": _kept(message.text),
            "created": message.created.isoformat(),
        }
    return {
        "id": str(uuid.uuid4()),
        "type": str(event),
        "created": timezone.now().isoformat(),
        "data": body,
    }


def _kept(text: str) -> str:
    return ShopSettings.load().redact(text, boundary=Boundary.EXPORT).text


def _agent(conversation: Conversation) -> dict[str, Any] | None:
    agent = conversation.assigned_agent
    if agent is None:
        return None
    return {"id": agent.pk, "username": agent.get_username()}


def deliveries_enqueue(delivery_ids: list[int]) -> None:
    """Ask a webhooks worker to send each; if the broker is away, the sweep will."""
    from api.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:
            # The delivery is committed and due: the sweep sends it.
            logger.warning(
                "could not enqueue webhook delivery %s; the sweep will",
                delivery_id,
                exc_info=True,
            )


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """POST a due delivery once and log the outcome; ``None`` if it was not due
    (delivered, given up, or another worker has the attempt)."""
    now = timezone.now()
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    delivery = (
        WebhookDelivery.objects.select_related("subscription")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or not delivery.claim(
        now=now, timeout=timedelta(seconds=timeout)
    ):
        return None
    body = body_bytes(delivery.payload)
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL (URLField)
        delivery.subscription.url,
        data=body,
        headers=delivery.headers(body=body, timestamp=int(time.time())),
        method="POST",
    )
    code: int | None = None
    answer, error = "", ""
    try:
        with opener.open(request, timeout=timeout) as reply:
            code = reply.status
            answer = _excerpt(reply.read(RESPONSE_EXCERPT * 4))
    except urllib.error.HTTPError as failure:
        code = failure.code
        answer = _excerpt(failure.read(RESPONSE_EXCERPT * 4))
        error = f"HTTP {failure.code}"
    except (OSError, ValueError, http.client.HTTPException) as failure:
        # URLError, a timeout, a refused or reset connection, a bad URL, garbage.
        reason = getattr(failure, "reason", failure)
        error = f"{type(failure).__name__}: {reason}"[:RESPONSE_EXCERPT]
    delivery.record_attempt(
        now=timezone.now(),
        response_code=code,
        response_body=answer,
        error=error,
        retry_for=timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS),
    )
    return delivery


def _excerpt(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT]


# Due deliveries one sweep enqueues at most; the next sweep takes the rest.
SWEEP_BATCH = 500


def deliveries_sweep() -> int:
    """Enqueue every delivery that is due (a retry, or one whose task was lost)."""
    ids = list(
        WebhookDelivery.objects.due(now=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    deliveries_enqueue(ids)
    return len(ids)


def delivery_resend(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send an event again (the admin's "resend"), as a new delivery in the log."""
    with transaction.atomic():
        again = delivery.resend(now=timezone.now())
        transaction.on_commit(lambda: deliveries_enqueue([again.pk]))
    return again
