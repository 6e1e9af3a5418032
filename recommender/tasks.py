"""Background work of the catalog."""

from __future__ import annotations

from celery import shared_task

from ml.models import ModelVersion
from ml.runs import recording, run_for_task
from ml.tasks import training_task
from recommender import embeddings


@shared_task(acks_late=True)
def embed_products(product_ids: list[int]) -> int:
    """Compute the embeddings of changed products, in one batch."""
    return embeddings.product_embed(product_ids)


@training_task(soft_time_limit=20 * 60, time_limit=25 * 60)
def train_recommender(activate: bool = True, run_id: int | None = None) -> int | None:
    """Retrain the collaborative recommender on all interactions; the version's id.

    Runs on the "training" queue (settings route ``*.train_*`` there), recorded as
    a ``TrainingRun`` (the one queued in the admin, ``run_id``, or a new scheduled
    one). Running it twice registers two versions; each is judged by the promotion
    rule on the golden set. ``None`` when the run had already been done.
    """
    # Training loads torch; the web process imports this module too.
    from recommender.training import recommender_train

    run = run_for_task(kind=ModelVersion.Kind.RECOMMENDER, run_id=run_id)
    if run is None:
        return None
    with recording(run) as recorder:
        return recommender_train(activate=activate, recorder=recorder).pk
