from __future__ import annotations

from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Product recommendation"

    def ready(self) -> None:
        # Models can be imported only once the app registry is ready.
        from ml.embedding_queue import embed_on_save
        from recommender.models import Product

        embed_on_save(Product, task="recommender.tasks.embed_products")
