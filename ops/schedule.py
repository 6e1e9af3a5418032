"""Creating the default periodic tasks, once (see config.schedule)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import transaction


def schedule_setup(*, using: str = "default") -> list[str]:
    """Create the default periodic tasks that have no row yet (by name).

    A row that exists is left exactly as it is, whatever its schedule, queue or
    enabled flag: from its creation on, it is the operators' to edit.

    Returns:
        The names of the tasks created.
    """
    from django_celery_beat.models import (
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
    )

    from config.schedule import periodic_tasks

    created = []
    with transaction.atomic(using=using):
        existing = set(PeriodicTask.objects.using(using).values_list("name", flat=True))
        for periodic in periodic_tasks():
            if periodic.name in existing:
                continue
            schedule: dict[str, Any] = {}
            if periodic.crontab is not None:
                minute, hour = periodic.crontab
                schedule["crontab"], _ = CrontabSchedule.objects.using(
                    using
                ).get_or_create(
                    minute=minute,
                    hour=hour,
                    day_of_week="*",
                    day_of_month="*",
                    month_of_year="*",
                    timezone=settings.CELERY_TIMEZONE,
                )
            else:
                schedule["interval"], _ = IntervalSchedule.objects.using(
                    using
                ).get_or_create(every=periodic.seconds, period=IntervalSchedule.SECONDS)
            PeriodicTask.objects.using(using).create(
                name=periodic.name,
                task=periodic.task,
                queue=periodic.queue,
                kwargs=json.dumps(periodic.kwargs),
                description=periodic.description,
                **schedule,
            )
            created.append(periodic.name)
    return created
