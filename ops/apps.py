from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health endpoints, the worker heartbeat, backup and restore."""

    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from celery.signals import celeryd_init

        from ops.heartbeat import install

        # A Celery worker imports the Django apps (its Django fix-up calls
        # django.setup()) just before it sends celeryd_init and builds its
        # blueprints, so the heartbeat step is added in time; other processes
        # never send the signal.
        celeryd_init.connect(install, dispatch_uid="ops.heartbeat.install")
