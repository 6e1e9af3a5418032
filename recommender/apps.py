from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_save


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Product recommendation"

    def ready(self) -> None:
        from recommender.embeddings import product_saved
        from recommender.models import Product

        post_save.connect(product_saved, sender=Product, dispatch_uid="embed-product")
