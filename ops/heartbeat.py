"""The worker heartbeat: each Celery worker says "alive, consuming these queues"
in a Redis key with a time to live, which ``/readyz`` and the workers' container
healthcheck read.

Why a key of our own rather than Celery's tools: ``celery inspect ping`` broadcasts
and waits a full timeout for the replies (a second or more per probe), and Celery's
``worker-heartbeat`` events exist only when a worker runs with events and heartbeats
on (the tests' workers run ``--without-heartbeat``) and need a live event receiver
to be read. A key with a TTL costs one SET per beat and one SCAN per probe, and it
expires by itself when a worker is killed without a chance to say goodbye.

Why a consumer bootstep on the worker's own timer rather than a thread or a beat
task: the timer runs in the consumer's event loop, the loop that fetches tasks, so
the key stops being renewed when that loop is stuck, not only when the process is
gone; a side thread would keep beating for a wedged worker, and a periodic task
would depend on the beat process and on a free pool slot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from typing import Any

import redis
from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)
KEY_PREFIX = "concierge:worker-heartbeat:"
# A worker is alive while its last beat is younger than this many intervals: one
# missed beat (a slow Redis round trip, a long timer tick) is not a death.
TTL_INTERVALS = 3


def redis_client() -> redis.Redis:
    """A client with short timeouts: a probe must answer, not hang on Redis."""
    return redis.Redis.from_url(
        str(settings.REDIS_URL), socket_timeout=2, socket_connect_timeout=2
    )


def ttl_seconds() -> int:
    return int(settings.WORKER_HEARTBEAT_SECONDS) * TTL_INTERVALS


def beat(client: redis.Redis, *, nodename: str, queues: list[str]) -> None:
    """Record that ``nodename`` is alive and consumes ``queues``."""
    client.set(
        KEY_PREFIX + nodename,
        json.dumps({"queues": sorted(queues)}),
        ex=ttl_seconds(),
    )


def live_workers(client: redis.Redis) -> dict[str, list[str]]:
    """The workers that beat within the TTL: node name → the queues it consumes."""
    workers: dict[str, list[str]] = {}
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=100))
    values: list[bytes | None] = client.mget(keys) if keys else []  # type: ignore[assignment]
    for key, value in zip(keys, values, strict=True):
        if value is None:  # expired between SCAN and MGET
            continue
        name = key.decode()[len(KEY_PREFIX) :]
        workers[name] = list(json.loads(value)["queues"])
    return workers


def this_host_is_alive(client: redis.Redis) -> bool:
    """Whether a worker on this host (``name@hostname``, Celery's default node name
    ``celery@hostname`` included) beat within the TTL."""
    suffix = "@" + socket.gethostname()
    return any(name.endswith(suffix) for name in live_workers(client))


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A consumer bootstep: beats at start, then every WORKER_HEARTBEAT_SECONDS on
    the consumer's timer, and deletes its key on a clean stop."""

    def __init__(self, c: Any, **kwargs: Any) -> None:
        self.tref: Any = None
        self.client: redis.Redis | None = None
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        self.client = redis_client()
        self._beat(c)
        self.tref = c.timer.call_repeatedly(
            int(settings.WORKER_HEARTBEAT_SECONDS), self._beat, (c,), priority=10
        )

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.client is not None:
            with contextlib.suppress(redis.RedisError):  # else it expires by itself
                self.client.delete(KEY_PREFIX + c.hostname)
            self.client.close()
            self.client = None

    shutdown = stop

    def _beat(self, c: Any) -> None:
        assert self.client is not None
        try:
            beat(
                self.client,
                nodename=c.hostname,
                queues=list(c.app.amqp.queues.consume_from or c.app.amqp.queues),
            )
        except redis.RedisError as error:
            # Redis away: the broker connection fails too and Celery reconnects;
            # the next beat renews the key.
            logger.warning("worker heartbeat not written: %s", error)


def install(sender: Any = None, instance: Any = None, **kwargs: Any) -> None:
    """``celeryd_init`` receiver: add the heartbeat to this worker's consumer."""
    instance.app.steps["consumer"].add(WorkerHeartbeat)
