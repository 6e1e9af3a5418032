from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_save


def article_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    from django.conf import settings

    from ml.encoder import EMBEDDING_FIELDS

    if not settings.EMBED_ON_SAVE or kwargs.get("raw"):
        return
    if kwargs.get("update_fields") and kwargs["update_fields"] <= EMBEDDING_FIELDS:
        return
    from chatbot.tasks import embed_articles

    transaction.on_commit(lambda: embed_articles.delay([instance.pk]))


class ChatbotConfig(AppConfig):
    name = "chatbot"
    verbose_name = "Chat"

    def ready(self) -> None:
        from chatbot.models import Article

        post_save.connect(article_saved, sender=Article, dispatch_uid="embed-article")
