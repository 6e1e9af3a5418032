"""The periodic tasks Concierge starts with: created once, then the operators'.

``manage.py setup_schedule`` (run after every ``migrate``) creates each task below
that has no row yet, by name, in django-celery-beat's tables; it never changes a
row that exists, so what an operator edits in the admin (a time, a queue,
disabling a task) stays as they left it, across deployments and beat restarts.
Times are in ``CELERY_TIMEZONE`` (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    queue: str
    description: str
    # Exactly one of: every ``seconds``, or a crontab (minute, hour).
    seconds: int | None = None
    crontab: tuple[str, str] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def periodic_tasks() -> list[Periodic]:
    """The default schedule (settings are read now, when rows are created)."""
    return [
        Periodic(
            name="refresh-queue",
            task="chatbot.tasks.refresh_queue",
            queue="inference",
            seconds=30,
            description="Tells waiting customers their place in the agents' queue.",
        ),
        Periodic(
            name="sweep-pending-replies",
            task="chatbot.tasks.sweep_pending_replies",
            queue="inference",
            seconds=int(settings.REPLY_SWEEP_EVERY_SECONDS),
            description="Enqueues again the replies a lost task never sent.",
        ),
        Periodic(
            name="train-intents",
            task="classifier.tasks.train_intents",
            queue="training",
            crontab=("30", "2"),
            description="Nightly retraining of the intent model on the reviewed "
            "examples; it goes live only if the promotion rule accepts it.",
        ),
        Periodic(
            name="train-recommender",
            task="recommender.tasks.train_recommender",
            queue="training",
            crontab=("30", "3"),
            kwargs={"activate": True},
            description="Nightly retraining of the recommender on the day's "
            "interactions, judged on its golden set.",
        ),
        Periodic(
            name="sweep-embeddings",
            task="ml.tasks.sweep_embeddings",
            queue="embeddings",
            crontab=("15", "*"),
            description="Hourly: embeds the products and articles whose embedding "
            "is missing or older than their text.",
        ),
        Periodic(
            name="sweep-webhooks",
            task="api.tasks.sweep_webhooks",
            queue="webhooks",
            seconds=30,
            description="Sends the webhook deliveries that are due: retries after "
            "a failure, and any whose task was lost.",
        ),
        Periodic(
            name="purge-expired",
            task="privacy.tasks.purge_expired",
            queue="training",
            crontab=("45", "1"),
            description="Nightly: deletes or anonymises what is older than the "
            "shop keeps it (Shop settings → Retention), in batches; returns the "
            "rows per kind.",
        ),
    ]
