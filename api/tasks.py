"""Background work of the shop connection, on the ``webhooks`` queue (see settings):
a slow receiver keeps a webhooks worker busy, never one that answers customers."""

from __future__ import annotations

from celery import shared_task

from api import webhooks


@shared_task(acks_late=True)
def deliver_webhook(delivery_id: int) -> str | None:
    """POST one delivery if it is due; its status afterwards.

    Retries are not Celery retries: a failed attempt sets the delivery's next
    attempt (exponential backoff) and the sweep enqueues it then, so a retry
    survives a lost task or a restarted broker. Running twice sends once: an
    attempt first claims the row.
    """
    delivery = webhooks.delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery is not None else None


@shared_task
def sweep_webhooks() -> int:
    """Enqueue the deliveries that are due; how many."""
    return webhooks.deliveries_sweep()
