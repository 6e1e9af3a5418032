"""Celery tasks of the chat: ids in, one service call, retries owned here."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from chatbot import services
from chatbot.dialogue.knowledge import article_embed
from chatbot.models import Article


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def reply_to_message(message_id: int) -> int | None:
    """Produce and deliver the bot's reply to a stored customer message."""
    reply = services.bot_reply(message_id=message_id)
    return reply.pk if reply else None


@shared_task(acks_late=True)
def embed_articles(article_ids: list[int]) -> int:
    """Compute the embeddings of changed help-centre articles."""
    return article_embed(Article.objects.filter(pk__in=article_ids))


@shared_task
def refresh_queue() -> None:
    """Send everyone waiting for a person their place and expected wait (beat)."""
    services.queue_broadcast()
