"""Background work of the catalog."""

from __future__ import annotations

from celery import shared_task

from ml.tasks import training_task
from recommender import embeddings


@shared_task(acks_late=True)
def embed_products(product_ids: list[int]) -> int:
    """Compute the embeddings of changed products, in one batch."""
    return embeddings.product_embed(product_ids)


@training_task(soft_time_limit=20 * 60, time_limit=25 * 60)
def train_recommender(activate: bool = True) -> int:
    """Retrain the collaborative recommender on all interactions; the version's id.

    Runs on the "training" queue (settings route ``*.train_*`` there). Running it
    twice registers two versions; only one that does no worse is activated.
    """
    # Training loads torch; the web process imports this module too.
    from recommender.training import recommender_train

    return recommender_train(activate=activate).pk
