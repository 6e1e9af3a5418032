"""The web process's database threads: the sockets' ORM calls, several at a time.

Channels' ``database_sync_to_async`` is thread-sensitive: every call of a web
process runs on one and the same thread. Under a burst that thread is the queue
every socket waits in — 200 customers' messages were acked one after another, and
acks took 20 s while the CPU was mostly idle (#14). The hot calls of the chat
socket (storing a message, opening a session, a resync) run here instead, on a
small pool of threads, each with its own database connection; one socket's
frames still run one at a time (the consumer awaits each), so its order holds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings

P = ParamSpec("P")
R = TypeVar("R")

_pool: tuple[int, ThreadPoolExecutor] | None = None
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (
                os.getpid(),
                ThreadPoolExecutor(
                    max_workers=int(settings.WEB_DB_THREADS),
                    thread_name_prefix="web-db",
                ),
            )
        return _pool[1]


async def database_call(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``await database_sync_to_async(func)(*args, **kwargs)``, on the pool.

    The connection is closed after the call when it is obsolete or broken, as
    Channels does (``DATABASE_CONN_MAX_AGE`` keeps it open between calls).
    """
    call = DatabaseSyncToAsync(func, thread_sensitive=False, executor=_executor())
    return await call(*args, **kwargs)


def reset() -> None:
    """Let the pool's threads go, with the connections they hold: the next call
    starts fresh threads, whose connections read the database settings anew."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool[1].shutdown(wait=True)
            _pool = None
