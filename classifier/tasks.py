"""Scheduled retraining of the intent model (the "training" queue)."""

from __future__ import annotations

import logging

from classifier import training
from ml.tasks import training_task

logger = logging.getLogger(__name__)


# The training budget is 25 minutes; past these limits something is wrong.
@training_task(soft_time_limit=35 * 60, time_limit=40 * 60)
def train_intents() -> int | None:
    """Train on today's examples; the new version goes live only if no worse.

    Every serving process swaps it in within seconds, in the background (ml.hotswap).
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
