"""The privacy app's background work: the nightly purge of expired data."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from privacy.retention import retention_purge


@shared_task
def purge_expired() -> dict[str, int]:
    """Delete or anonymise what is older than the shop keeps it; rows per kind.

    Idempotent (a second run finds nothing more) and batched, so a failed run
    owns no retry: tomorrow's carries on where it stopped.
    """
    return retention_purge(batch_size=int(settings.RETENTION_BATCH_SIZE))
