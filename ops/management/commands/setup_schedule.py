from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ops.schedule import schedule_setup


class Command(BaseCommand):
    help = (
        "Create the default periodic tasks (retraining, embedding sweep, reply "
        "sweep…) that do not exist yet; existing ones, edited in the admin or not, "
        "are left as they are. Runs after every migrate."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = schedule_setup()
        if created:
            self.stdout.write(f"Created the periodic tasks: {', '.join(created)}.")
        else:
            self.stdout.write("Every default periodic task exists; none changed.")
