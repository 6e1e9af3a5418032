from __future__ import annotations

from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    name = "chatbot"
    verbose_name = "Chat"

    def ready(self) -> None:
        # Models can be imported only once the app registry is ready.
        from chatbot.console import signals
        from chatbot.models import Article
        from ml.embedding_queue import embed_on_save

        embed_on_save(Article, task="chatbot.tasks.embed_articles")
        signals.connect()
