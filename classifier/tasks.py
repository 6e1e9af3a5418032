"""Scheduled and requested retraining of the intent model (the "training" queue)."""

from __future__ import annotations

import logging

from django.conf import settings

from classifier import training
from ml.models import ModelVersion
from ml.runs import recording, run_for_task
from ml.tasks import training_task

logger = logging.getLogger(__name__)


# The training budget is 25 minutes; past these limits something is wrong.
@training_task(soft_time_limit=35 * 60, time_limit=40 * 60)
def train_intents(run_id: int | None = None) -> int | None:
    """Train on today's examples; the candidate goes live only if the promotion
    rule says so. Recorded as a ``TrainingRun``: the one queued in the admin
    (``run_id``), or a new scheduled one.

    Returns:
        The registered version's id; ``None`` when nothing could be trained (the
        run says why) or the run had already been done.
    """
    run = run_for_task(kind=ModelVersion.Kind.INTENT, run_id=run_id)
    if run is None:
        return None
    try:
        with recording(run) as recorder:
            candidate = training.intent_model_train(
                recorder=recorder,
                promote=True,
                finetune_epochs=int(settings.INTENT_FINETUNE_EPOCHS),
            )
    except training.TrainingError:
        logger.exception("intent training skipped")
        return None
    logger.info("%s: %s", candidate, run.reason)
    return candidate.pk
