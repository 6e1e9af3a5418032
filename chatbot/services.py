"""Multi-step writes of the chat: store a message, answer it, broadcast after commit.

Every side effect — a channel-layer broadcast, a Celery task — is registered with
``transaction.on_commit`` so that nothing is announced that could still roll back.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone

from chatbot import channel_layer, events, order_sources, selectors
from chatbot.dialogue import limits, multi
from chatbot.dialogue.decision import (
    CodeRequest,
    Decision,
    Incoming,
    LookupKeys,
    OrderAction,
)
from chatbot.dialogue.lookups import live_lookups
from chatbot.dialogue.policy import decide, late_reply
from chatbot.dialogue.responses import say
from chatbot.models import (
    CARD_NOTICE,
    Boundary,
    Conversation,
    Customer,
    Message,
    Order,
    OrderActionCode,
    OrderSource,
    PendingReply,
    ReturnRequest,
    ShopSettings,
)
from classifier.models import Intent
from classifier.serving import Classification, classify_many
from ml.models import ModelVersion
from ml.redaction import Kind, redact, redact_json

logger = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4000


def broadcast(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to a channel-layer group; a lost broadcast is healed by resync."""
    try:
        channel_layer.group_send(group, event)
    except Exception:
        # The message is committed; clients catch up with a resync, so a broken
        # broadcast must not turn a stored message into an error for the sender.
        logger.exception("broadcast to %s failed", group)


def conversation_for_customer(
    *, customer: Customer, public_id: str | None
) -> Conversation | None:
    """The customer's conversation ``public_id``; their open (or new) one if ``None``.

    Returns ``None`` when ``public_id`` is not one of this customer's conversations —
    the same answer whether it belongs to someone else or does not exist.
    """
    if public_id:
        return Conversation.objects.filter(
            customer=customer, public_id=public_id
        ).first()
    conversation = customer.conversations.open().order_by("-created").first()
    if conversation is None:
        with transaction.atomic():  # the listeners' rows commit with it
            conversation = Conversation.objects.create(customer=customer)
            events.announce(events.Event.STARTED, conversation=conversation)
    return conversation


def message_store(
    *,
    conversation_id: int,
    sender: str,
    text: str,
    payload: dict[str, Any] | None = None,
    client_msg_id: str | None = None,
    client_address: str | None = None,
    **fields: Any,
) -> tuple[Message, bool]:
    """Store a message with the conversation's next seq; idempotent by client_msg_id.

    A customer's card number is masked before the row is written when the shop
    says so (the message then carries a notice why); the bot's text never holds one.

    Returns:
        ``(message, created)``; ``created`` is False when ``client_msg_id`` was
        already stored, and then nothing is written or broadcast again.
    """
    if sender == Message.Sender.CUSTOMER:
        kept = ShopSettings.load().redact(text, boundary=Boundary.STORE)
        if kept.changed:
            text = kept.text
            payload = {**(payload or {}), "notice": CARD_NOTICE}
    elif sender == Message.Sender.BOT:
        # The bot quotes customers (a clarification, the other request of two):
        # whatever it quotes, it never says a card number back.
        text = redact(text, kinds={Kind.CARD}).text
        payload = redact_json(payload, kinds={Kind.CARD})
    with transaction.atomic():
        # The row lock serialises writers of one conversation: seqs come out
        # strictly increasing with no gaps, and a duplicate is seen reliably.
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if client_msg_id is not None:
            existing = conversation.messages.filter(client_msg_id=client_msg_id).first()
            if existing is not None:
                return existing, False
        if sender == Message.Sender.CUSTOMER and (
            conversation.status == Conversation.Status.RESOLVED
        ):
            conversation.reopen()
            transaction.on_commit(lambda: status_broadcast(conversation))
        message = Message.objects.create(
            conversation=conversation,
            seq=conversation.next_seq(),
            sender=sender,
            text=text,
            payload=payload or {},
            client_msg_id=client_msg_id,
            client_address=ip_or_none(client_address),
            **fields,
        )
        events.announce(
            events.Event.MESSAGE_STORED, conversation=conversation, message=message
        )
        frame = message.as_frame()
        transaction.on_commit(
            lambda: broadcast(
                conversation.group_name,
                {
                    "type": "chat.message",
                    "message": frame,
                    # For agent consoles, which may follow several conversations.
                    "conversation": conversation.public_id,
                },
            )
        )
        transaction.on_commit(lambda: console_broadcast(conversation))
        if sender == Message.Sender.CUSTOMER and conversation.bot_may_answer():
            # The outbox row commits with the message: the reply is owed even if
            # the task below never reaches a worker.
            after = timedelta(seconds=settings.REPLY_SWEEP_AFTER_SECONDS)
            PendingReply.objects.create(message=message, due=timezone.now() + after)
            transaction.on_commit(lambda: reply_enqueue(message.pk))
    return message, True


def ip_or_none(address: str | None) -> str | None:
    """``address`` if it is an IP address (a unix socket's peer is not)."""
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def reply_enqueue(message_id: int) -> None:
    """Ask a worker for the reply; if the broker is away, the sweep asks later."""
    # A real cycle: the task module calls back into these services.
    from chatbot.tasks import reply_to_message

    try:
        reply_to_message.delay(message_id)
    except Exception:
        # The message and its outbox row are committed; a broker outage must not
        # turn them into an error for the customer.
        logger.warning(
            "could not enqueue the reply to message %s; the sweep will",
            message_id,
            exc_info=True,
        )


CONSOLE_GROUP = "console"


def console_broadcast(conversation: Conversation) -> None:
    """Tell every open agent console that a conversation changed (it re-reads it)."""
    broadcast(
        CONSOLE_GROUP,
        {"type": "console.changed", "conversation": conversation.public_id},
    )


def status_broadcast(conversation: Conversation) -> None:
    broadcast(
        conversation.group_name,
        {"type": "chat.status", "status": selectors.status_frame(conversation)},
    )


def queue_broadcast() -> None:
    """Tell everyone waiting for a person their current place and wait."""
    for conversation, frame in selectors.queue_status_frames():
        broadcast(conversation.group_name, {"type": "chat.status", "status": frame})


def typing_broadcast(conversation: Conversation, *, sender: str) -> None:
    broadcast(
        conversation.group_name, {"type": "chat.typing", "sender": sender, "origin": ""}
    )


def csat_record(*, conversation: Conversation, score: int, comment: str) -> None:
    conversation.csat_score = score
    conversation.csat_comment = comment
    conversation.save(update_fields=["csat_score", "csat_comment", "updated"])
    events.announce(
        events.Event.CSAT_RECEIVED,
        conversation=conversation,
        score=score,
        comment=comment,
    )


def bot_reply(*, message_id: int) -> Message | None:
    """Answer a customer message; ``None`` when there is nothing (more) to answer.

    Classify and decide first, with no lock held; then apply the decision in one
    short transaction that locks the conversation row only to check that nothing
    changed meanwhile (deciding again if it did) and to store the reply. Safe to run
    twice: the reply carries ``client_msg_id="reply-to:<id>"``, so a second run
    finds it and stores nothing.
    """
    message = (
        Message.objects.select_related("conversation__customer")
        .filter(pk=message_id)
        .first()
    )
    if message is None:  # deleted since (e.g. the conversation was erased)
        return None
    conversation = message.conversation
    if not _awaits_reply(conversation, message_id=message.pk):
        return None
    typing_broadcast(conversation, sender=Message.Sender.BOT)
    postback = (message.payload or {}).get("postback") or {}
    reading, parts = message_readings(message.text, split=not postback)
    incoming = Incoming(
        text=message.text,
        postback=postback,
        customer_id=conversation.customer_id,
        customer_name=conversation.customer.name,
        # Set only from an identity the shop signed: safe to find orders by.
        shopper_id=conversation.customer.external_id,
        client_address=message.client_address,
        parts=parts,
    )
    classification = message_classification(incoming, reading)
    lookups = live_lookups(conversation_id=conversation.pk)

    def decided(state: dict[str, Any]) -> Decision:
        return decide(incoming, classification, state=state, lookups=lookups)

    decision = decided(conversation.state)
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if not _awaits_reply(locked, message_id=message.pk):
            return None
        if (locked.status, locked.state) != (conversation.status, conversation.state):
            decision = decided(locked.state)  # e.g. a quick second message won
        for _ in range(MAX_DECISIONS):
            if _order_action_applied(decision.order_action, conversation=locked):
                break
            decision = decided(locked.state)  # the order changed (e.g. it shipped)
        else:  # pragma: no cover - a decision that keeps asking the impossible
            raise RuntimeError(f"no applicable decision for message {message_id}")
        return _apply(decision, conversation=locked, message_id=message.pk)


# Deciding again only happens when an order changed between decision and apply;
# the second decision reads the changed order and asks nothing of it.
MAX_DECISIONS = 3


def reply_id(message_id: int) -> str:
    """The bot reply's ``client_msg_id``: one reply per message, however often the
    task runs (the unique constraint on it makes a second store a no-op)."""
    return f"reply-to:{message_id}"


def _awaits_reply(conversation: Conversation, *, message_id: int) -> bool:
    """Whether the bot still owes ``message_id`` a reply; when it does not (answered,
    or a person has the conversation), its outbox row is settled here."""
    owed = (
        conversation.bot_may_answer()
        and not conversation.messages.filter(
            client_msg_id=reply_id(message_id)
        ).exists()
    )
    if not owed:
        PendingReply.objects.filter(message_id=message_id).delete()
    return owed


def message_readings(
    text: str, *, split: bool
) -> tuple[Classification | None, tuple[tuple[str, Classification | None], ...]]:
    """The model's reading of the message and, when it holds several requests (and
    ``split``), of each of its clauses: one call of the model for all of them.

    Returns:
        The whole message's reading (``None`` while no model is active), and the
        clauses with theirs (empty for a one-clause message).
    """
    clauses = multi.split(text) if split else []
    if len(clauses) < 2:
        clauses = []
    readings = classify_many([text, *clauses])
    if readings is None:
        return None, ()
    whole, *parts = readings
    return whole, tuple(zip(clauses, parts, strict=True))


def message_classification(
    incoming: Incoming, result: Classification | None
) -> Classification | None:
    """The model's reading ``result`` of the text, or the intent a clarification
    button named."""
    chosen = incoming.postback.get("intent")
    if isinstance(chosen, str) and Intent.objects.filter(name=chosen).exists():
        return Classification(
            intent=chosen,
            confidence=1.0,
            top_k=[(chosen, 1.0)],
            out_of_scope=False,
            model_version_id=result.model_version_id if result else 0,
            model_version=result.model_version if result else "",
            ranking=[(chosen, 1.0)],
        )
    return result


def _order_action_applied(
    action: OrderAction | None, *, conversation: Conversation
) -> bool:
    """Apply a confirmed order change under the order's lock; False if it no
    longer applies (the order changed since the decision).

    With Concierge's table as the order system (``local``) the change is made
    here. Otherwise the shop makes it: it is sent (a webhook for ``api``, a call
    to the order endpoint for ``http``, both after the commit) and the customer
    was told it was sent; the order row changes when the shop says so.
    """
    if action is None:
        return True
    order = Order.objects.select_for_update().get(pk=action.order_id)
    now = timezone.now()
    # The code is spent with the change, under the order's lock: two messages
    # carrying one code change the order once.
    if action.code_id is None:  # pragma: no cover - forms always prove it
        raise RuntimeError(f"an order action without a code: {action}")
    code = OrderActionCode.objects.filter(
        pk=action.code_id, order=order, action=action.kind
    ).first()
    if code is None or not code.usable(now=now):
        return False
    shop = ShopSettings.load()
    if action.kind == "cancel":
        if shop.order_source == OrderSource.LOCAL:
            applied = order.cancel()
        else:
            applied = order.cancellable()
    else:
        # The return request is Concierge's record of it either way; where the
        # shop makes it, a refusal removes it again (order_change_send).
        applied = order.start_return(
            conversation=conversation, now=now, window_days=shop.return_window_days
        )
    if not applied:
        return False
    code.used = now
    code.save(update_fields=["used"])
    if shop.order_source != OrderSource.LOCAL:
        order_change_request(
            order=order,
            kind=action.kind,
            conversation=conversation,
            request_id=f"{action.kind}-{order.number}-{code.pk}",
            source=shop.order_source,
        )
    return True


CHANGE_EVENTS = {
    "cancel": events.Event.ORDER_CANCEL_REQUESTED,
    "return": events.Event.ORDER_RETURN_REQUESTED,
}


def order_change_request(
    *,
    order: Order,
    kind: str,
    conversation: Conversation,
    request_id: str,
    source: str,
) -> None:
    """Send the shop a confirmed change (inside the caller's transaction): as a
    webhook event for orders pushed through the API, else to the order endpoint
    by a task after the commit."""
    if source == OrderSource.API:
        events.announce(
            CHANGE_EVENTS[kind],
            conversation=conversation,
            order=order,
            request_id=request_id,
        )
        return
    from chatbot.tasks import send_order_change  # a real cycle, as reply_enqueue's

    def enqueue() -> None:
        try:
            send_order_change.delay(order.pk, kind, conversation.pk, request_id)
        except Exception:
            logger.exception("could not enqueue the %s of order %s", kind, order)

    transaction.on_commit(enqueue)


CHANGE_DONE = {
    "cancel": "Order {number} is cancelled; you won't be charged.",
    "return": "The return for order {number} is registered; the return label is "
    "on its way to your email.",
}
CHANGE_VERBS = {"cancel": "cancel", "return": "start a return for"}


def order_change_send(
    *, order_id: int, kind: str, conversation_id: int, request_id: str
) -> str:
    """Ask the shop's order endpoint for a change the customer confirmed, and tell
    the customer what it said once it has decided: ``done``, ``sent`` (it will
    act; nothing to say yet) or ``refused`` (to a person). Safe to run twice: the
    shop gets the same ``request_id``, the customer hears it once.

    Raises:
        OrderLookupUnavailable: the shop did not answer; the task retries.
    """
    order = Order.objects.get(pk=order_id)
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    backend = order_sources.backend_for(OrderSource.HTTP)
    answer = backend.request_change(
        order=order,
        kind="cancel" if kind == "cancel" else "return",
        request_id=request_id,
        conversation=conversation,
    )
    if answer.result == "sent" or conversation is None:
        return answer.result
    change = {"action": CHANGE_VERBS[kind]}
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if answer.result == "done":
            if kind == "cancel" and order.status != Order.Status.CANCELLED:
                order.status = Order.Status.CANCELLED
                order.save(update_fields=["status"])
            change["done"] = CHANGE_DONE[kind].format(number=order.number)
            key = "order_change_done"
        else:
            if kind == "return":
                ReturnRequest.objects.filter(order=order).delete()
            change["reason"] = f": {answer.reason}" if answer.reason else ""
            key = "order_change_refused"
        order_change_tell(
            conversation_id=conversation_id,
            text=say(key, order={"number": order.number}, change=change),
            request_id=request_id,
            handoff=answer.result == "refused",
        )
    return answer.result


def order_change_give_up(
    *, order_id: int, kind: str, conversation_id: int, request_id: str
) -> None:
    """The shop never answered a change: tell the customer, hand over to a person."""
    order = Order.objects.get(pk=order_id)
    with transaction.atomic():
        if kind == "return":
            ReturnRequest.objects.filter(order=order).delete()
        order_change_tell(
            conversation_id=conversation_id,
            text=say(
                "order_change_failed",
                order={"number": order.number},
                change={"action": CHANGE_VERBS[kind]},
            ),
            request_id=request_id,
            handoff=True,
        )


def order_change_tell(
    *, conversation_id: int, text: str, request_id: str, handoff: bool
) -> None:
    """Store the bot's word on a change in the conversation (once per request)."""
    stored, created = message_store(
        conversation_id=conversation_id,
        sender=Message.Sender.BOT,
        text=text,
        client_msg_id=f"order-change:{request_id}",
    )
    conversation = stored.conversation
    if created and handoff and conversation.status == Conversation.Status.BOT:
        conversation.queue_for_agent()
        transaction.on_commit(lambda: status_broadcast(conversation))
        transaction.on_commit(queue_broadcast)


def recorded_version(version_id: int | None) -> int | None:
    """The model version a reply names, if its row still exists: a process may
    serve a version whose row a restored or wiped database no longer has, and the
    reply must be stored all the same (it is named as unknown)."""
    if version_id and ModelVersion.objects.filter(pk=version_id).exists():
        return version_id
    return None


def _apply(
    decision: Decision, *, conversation: Conversation, message_id: int
) -> Message:
    """Store the decision's state, effects and the reply to ``message_id``, and
    settle the reply owed to it (inside the caller's lock)."""
    PendingReply.objects.filter(message_id=message_id).delete()
    conversation.state = decision.state
    conversation.save(update_fields=["state", "updated"])
    if decision.followup_email:
        Customer.objects.filter(pk=conversation.customer_id).update(
            email=decision.followup_email
        )
    if decision.handoff:
        conversation.queue_for_agent()
    if decision.wrong_code is not None:
        OrderActionCode.objects.filter(pk=decision.wrong_code).update(
            attempts=models.F("attempts") + 1
        )
    if decision.failed_lookup is not None:
        failed = decision.failed_lookup
        transaction.on_commit(lambda: lookup_failure_record(failed))
    reply = decision.reply
    stored, _ = message_store(
        conversation_id=conversation.pk,
        sender=Message.Sender.BOT,
        client_msg_id=reply_id(message_id),
        text=reply.text,
        # The action travels in the payload, so a resync carries it as well.
        payload={**reply.payload, "action": reply.action}
        if reply.action
        else reply.payload,
        intent=reply.intent,
        confidence=reply.confidence,
        model_version_id=recorded_version(reply.model_version_id),
        recommender_version_id=recorded_version(reply.recommender_version_id),
        uncertainty=reply.uncertainty,
        ranking=[[name, round(p, 4)] for name, p in reply.ranking],
        form_value=reply.form_value,
    )
    if decision.send_code is not None:
        # Registered after the reply, so the customer reads "we've emailed a code"
        # while the mail is on its way.
        order_code_send(decision.send_code, now=timezone.now())
    if decision.handoff:
        # After the reply, so the widget shows the answer before the queue line;
        # the newcomer's own status frame goes out with everyone else's.
        transaction.on_commit(queue_broadcast)
    return stored


def lookup_failure_record(keys: LookupKeys) -> None:
    """Count a failed order lookup; a cache outage must not lose the reply."""
    try:
        limits.record_failure(keys)
    except Exception:
        logger.warning("could not count a failed order lookup", exc_info=True)


def order_code_send(request: CodeRequest, *, now: Any) -> None:
    """Store a new one-time code for the order action; mail it after commit.

    Only its hash is stored; the code itself lives in this closure until it is
    mailed to the address on the order, never to an address the chat gave.
    """
    order = Order.objects.get(pk=request.order_id)
    _, code = OrderActionCode.issue(order_id=order.pk, action=request.kind, now=now)
    what = "cancel" if request.kind == "cancel" else "start a return for"
    minutes = int(OrderActionCode.LIFETIME.total_seconds() // 60)
    subject = f"Your code to {what} order {order.number}: {code}"
    body = (
        f"Someone asked our chat assistant to {what} order {order.number}.\n\n"
        f"If it was you, type this code in the chat: {code}\n\n"
        f"It is valid for {minutes} minutes. If it wasn't you, ignore this email: "
        f"nothing changes without the code.\n"
    )

    def mail() -> None:
        try:
            send_mail(subject, body, None, [order.email])
        except Exception:
            # The customer can ask again: a new code goes out on their next try.
            logger.exception("could not mail the code for order %s", order.number)

    transaction.on_commit(mail)


def reply_late(*, message_id: int) -> Message | None:
    """The bot could not answer ``message_id``: say so and hand over to a person.

    The one late-reply policy: the reply task giving up after its retries and the
    outbox sweep giving up after its attempts both end here. Exactly once, like any
    reply: it is stored as the reply to the message.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return None
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(
            pk=message.conversation_id
        )
        if not _awaits_reply(conversation, message_id=message.pk):
            return None
        decision = late_reply(state=conversation.state, lookups=live_lookups())
        return _apply(decision, conversation=conversation, message_id=message.pk)


# Overdue replies one sweep handles at most; the next sweep takes the rest.
SWEEP_BATCH = 500


def pending_replies_sweep() -> int:
    """Enqueue again every reply that is overdue; give up on those tried too often.

    Rows are claimed with SKIP LOCKED, so two sweeps never take the same one, and
    each wait doubles, so a backlog is not flooded with copies of its own tasks.
    Returns how many overdue replies were handled.
    """
    now = timezone.now()
    after = settings.REPLY_SWEEP_AFTER_SECONDS
    with transaction.atomic():
        overdue = list(
            PendingReply.objects.select_for_update(skip_locked=True)
            .filter(due__lte=now)
            .order_by("due")[:SWEEP_BATCH]
        )
        retry, late = [], []
        for row in overdue:
            row.attempts += 1
            if row.attempts > settings.REPLY_MAX_ATTEMPTS:
                late.append(row.message_id)
            else:
                row.due = now + timedelta(seconds=after * 2**row.attempts)
                retry.append(row)
        PendingReply.objects.bulk_update(retry, ["attempts", "due"])
    for row in retry:
        reply_enqueue(row.message_id)
    for message_id in late:
        reply_late(message_id=message_id)
    return len(overdue)
