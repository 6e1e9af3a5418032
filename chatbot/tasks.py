"""Celery tasks of the chat: ids in, one service call, retries owned here."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from chatbot import services
from chatbot.console.services import agent_reply_email
from chatbot.dialogue.decision import OrderLookupUnavailable
from chatbot.dialogue.knowledge import article_embed
from chatbot.models import Article

logger = logging.getLogger(__name__)


# Retries of one reply task: 1, 2, 4, 8, 16 s apart (every wait far below the
# broker's visibility timeout), then the customer hears the reply is late.
REPLY_RETRIES = 5
REPLY_RETRY_MAX_SECONDS = 30


def retry_countdown(retries: int) -> int:
    """Seconds before retry number ``retries + 1`` of a reply."""
    return int(min(2**retries, REPLY_RETRY_MAX_SECONDS))


@shared_task(bind=True, acks_late=True, max_retries=REPLY_RETRIES)
def reply_to_message(self: Task, message_id: int) -> int | None:
    """Produce and deliver the bot's reply to a stored customer message.

    Any error (the database, the cache, a model that fails to load) retries with
    backoff; after the last retry the customer is told the reply is late and the
    conversation goes to a person. Safe to run twice: a reply is stored once.
    """
    try:
        reply = services.bot_reply(message_id=message_id)
    except Exception as error:
        if self.request.retries >= REPLY_RETRIES:
            logger.exception("giving up on the reply to message %s", message_id)
            late = services.reply_late(message_id=message_id)
            return late.pk if late else None
        raise self.retry(
            exc=error, countdown=retry_countdown(self.request.retries)
        ) from error
    return reply.pk if reply else None


# An agent reply's email: tried again 30 s, 1 min, 2 min… apart (SMTP hiccups).
EMAIL_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=EMAIL_RETRIES)
def email_agent_reply(self: Task, message_id: int) -> bool:
    """Email an agent's reply to the customer who left an address (once per reply)."""
    try:
        return agent_reply_email(message_id=message_id)
    except Exception as error:
        if self.request.retries >= EMAIL_RETRIES:
            logger.exception("giving up on emailing agent reply %s", message_id)
            return False
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from error


@shared_task
def sweep_pending_replies() -> int:
    """Enqueue again the replies still owed after a while (beat, every few seconds)."""
    return services.pending_replies_sweep()


@shared_task(acks_late=True)
def embed_articles(article_ids: list[int]) -> int:
    """Compute the embeddings of changed help-centre articles."""
    return article_embed(Article.objects.filter(pk__in=article_ids))


@shared_task
def refresh_queue() -> None:
    """Send everyone waiting for a person their place and expected wait (beat)."""
    services.queue_broadcast()


# A change sent to the shop's order endpoint is tried again 30 s, 1, 2, 4, 8 and
# 16 min apart (the circuit may be open meanwhile), about half an hour in all,
# every wait below the broker's visibility timeout; then a person takes over.
ORDER_CHANGE_RETRIES = 6


@shared_task(bind=True, acks_late=True, max_retries=ORDER_CHANGE_RETRIES)
def send_order_change(
    self: Task, order_id: int, kind: str, conversation_id: int, request_id: str
) -> str | None:
    """Send a confirmed cancellation or return to the shop's order endpoint (on
    the ``webhooks`` queue: a slow shop never holds up a chat reply)."""
    try:
        return services.order_change_send(
            order_id=order_id,
            kind=kind,
            conversation_id=conversation_id,
            request_id=request_id,
        )
    except OrderLookupUnavailable as error:
        if self.request.retries >= ORDER_CHANGE_RETRIES:
            logger.warning("giving up on sending %s to the shop", request_id)
            services.order_change_give_up(
                order_id=order_id,
                kind=kind,
                conversation_id=conversation_id,
                request_id=request_id,
            )
            return None
        raise self.retry(exc=error, countdown=30 * 2**self.request.retries) from error
