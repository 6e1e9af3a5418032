from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps


class OpsConfig(AppConfig):
    """Health endpoints, the worker heartbeat, backup and restore."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from celery.signals import celeryd_init
        from django.db.models.signals import post_migrate

        from ops.heartbeat import install

        # A Celery worker imports the Django apps (its Django fix-up calls
        # django.setup()) just before it sends celeryd_init and builds its
        # blueprints, so the heartbeat step is added in time; other processes
        # never send the signal.
        celeryd_init.connect(install, dispatch_uid="ops.heartbeat.install")
        # Every migrate (and a test database's creation) ends with the default
        # periodic tasks in place; existing rows are never changed. The signal
        # goes to apps with models only: it is django-celery-beat's that says its
        # tables are there.
        post_migrate.connect(
            _setup_schedule,
            sender=apps.get_app_config("django_celery_beat"),
            dispatch_uid="ops.schedule.setup",
        )


def _setup_schedule(*, using: str = "default", **kwargs: Any) -> None:
    from ops.schedule import schedule_setup

    schedule_setup(using=using)
