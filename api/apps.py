from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "Shop connection (API and webhooks)"

    def ready(self) -> None:
        # Models can be imported only once the app registry is ready.
        from api import webhooks

        webhooks.connect()
