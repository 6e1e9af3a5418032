"""The channel layer: channels-redis, made to wait out a Redis outage.

channels-redis raises from ``receive`` when Redis is unreachable, and Channels
then ends the consumer, closing every socket on the server at once; reconnects
die the same way until Redis is back. Waiting in ``receive`` instead keeps the
sockets open: customers' messages are still stored in PostgreSQL and acked, and
live updates resume when Redis does (a resync fills any gap).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

import redis.exceptions
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

REDIS_AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
RETRY_SECONDS = 1.0


class PatientRedisChannelLayer(RedisChannelLayer):
    async def receive(self, channel: str) -> dict[str, Any]:
        while True:
            try:
                return await super().receive(channel)
            except REDIS_AWAY as error:
                logger.warning("channel layer: Redis is away (%s); waiting", error)
                await asyncio.sleep(RETRY_SECONDS)


class _Loop:
    """An event loop on a thread of its own, for the group sends of sync code."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="channel-layer-sends", daemon=True
        )
        self.thread.start()
        self.layer: Any = None

    def send(self, layer: Any, group: str, event: dict[str, Any]) -> None:
        if self.layer is not None and self.layer is not layer:
            # The layer was rebuilt (tests reset them): close the old one's pool.
            old, self.layer = self.layer, layer
            asyncio.run_coroutine_threadsafe(old.close_pools(), self.loop).result(
                SEND_TIMEOUT_SECONDS
            )
        self.layer = layer
        future = asyncio.run_coroutine_threadsafe(
            layer.group_send(group, event), self.loop
        )
        future.result(SEND_TIMEOUT_SECONDS)


_loop: _Loop | None = None
_loop_lock = threading.Lock()
SEND_TIMEOUT_SECONDS = 10.0


def _sends_loop() -> _Loop:
    global _loop
    with _loop_lock:
        # A forked child (a Celery prefork process) inherits the object but not
        # the thread: it starts its own.
        if _loop is None or _loop.pid != os.getpid():
            _loop = _Loop()
        return _loop


def group_send(group: str, event: dict[str, Any]) -> None:
    """``group_send`` from sync code, over one Redis connection pool per process.

    ``async_to_sync(layer.group_send)`` from a thread with no event loop (a Celery
    worker, a management command) runs each call on a new loop, and channels-redis
    keeps its connection pools per loop: every broadcast opened a new pool and a new
    connection, and closed them. Here every such call runs on one long-lived loop,
    so its pool and connections are reused. A sync thread that Channels runs for an
    async consumer (``database_sync_to_async``) still sends on the consumer's own
    loop, as before.
    """
    layer = get_channel_layer()
    if layer is None:  # pragma: no cover - a configuration bug
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    if getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not None:
        async_to_sync(layer.group_send)(group, event)
        return
    _sends_loop().send(layer, group, event)
