"""What every training task of the model apps shares, and the embedding sweep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.apps import apps
from django.db import OperationalError

from ml.encoder import EMBEDDING_FIELDS, embed_changed
from ml.models import EmbeddedModel


def training_task(*, soft_time_limit: int, time_limit: int) -> Callable[..., Any]:
    """A Celery task for the "training" queue.

    Acknowledged on start, so a run killed for memory is not redelivered forever
    (the next scheduled run tries again); time-limited, since a run past its limits
    has gone wrong; retried twice at most, a minute apart, on a database error.
    """
    return shared_task(
        acks_late=False,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
        autoretry_for=(OperationalError,),
        max_retries=2,
        retry_backoff=60,
    )


SWEEP_BATCH = 256


@shared_task(acks_late=True)
def sweep_embeddings() -> dict[str, int]:
    """Embed every searchable row whose embedding is missing or stale (its text
    changed since), of every model with an embedding (products, articles…).

    The safety net of embed-on-save: a task lost with a worker, a bulk update
    that sends no signal, a new encoder. Hourly, on the "embeddings" queue.

    Returns:
        Rows embedded, per model label.
    """
    embedded: dict[str, int] = {}
    for model in apps.get_models():
        if not issubclass(model, EmbeddedModel):
            continue
        count = 0
        batch: list[EmbeddedModel] = []
        rows = model._default_manager.order_by("pk")
        for row in rows.iterator(chunk_size=SWEEP_BATCH):
            batch.append(row)
            if len(batch) == SWEEP_BATCH:
                count += _embed(model, batch)
                batch = []
        embedded[model._meta.label] = count + _embed(model, batch)
    return embedded


def _embed(model: type[EmbeddedModel], batch: list[EmbeddedModel]) -> int:
    changed = embed_changed(batch, model.search_text) if batch else []
    model._default_manager.bulk_update(changed, list(EMBEDDING_FIELDS))
    return len(changed)
