"""What every training task of the model apps shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import OperationalError


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
