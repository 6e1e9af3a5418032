"""Scheduled retraining of the intent model (the "training" queue)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from classifier import training

logger = logging.getLogger(__name__)


@shared_task(
    # Acknowledged on start: a run killed for memory is not redelivered forever;
    # the next scheduled run tries again.
    acks_late=False,
    # The training budget is 25 minutes; past these something is wrong.
    soft_time_limit=35 * 60,
    time_limit=40 * 60,
    autoretry_for=(OperationalError,),
    max_retries=2,
    retry_backoff=60,
)
def train_intents() -> int | None:
    """Train on today's examples; the new version goes live only if no worse.

    Every process switches to it on its next message (see ml.registry.LiveModel).
    """
    try:
        candidate = training.intent_model_train()
    except training.TrainingError:
        logger.exception("intent training skipped")
        return None
    if training.promote_if_not_worse(candidate):
        logger.info("activated %s", candidate)
    else:
        logger.warning("rejected %s: it scores lower than the active model", candidate)
    return candidate.pk
