from __future__ import annotations

from typing import Any

import redis
from django.core.management.base import BaseCommand, CommandError

from ops import heartbeat


class Command(BaseCommand):
    help = (
        "Exit 0 when a Celery worker on this host renewed its heartbeat recently, "
        "1 otherwise: the workers' container healthcheck."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        client = heartbeat.redis_client()
        try:
            alive = heartbeat.this_host_is_alive(client)
        except redis.RedisError as error:
            raise CommandError(f"Redis: {type(error).__name__}") from None
        finally:
            client.close()
        if not alive:
            raise CommandError(
                f"no worker on this host beat in the last {heartbeat.ttl_seconds()} s"
            )
        self.stdout.write("alive")
