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
from typing import Any

import redis.exceptions
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
