"""A stack of its own for the fault tests: they stop and kill its processes.

PostgreSQL, Redis, uvicorn, a Celery worker and Celery beat, all real, on free
ports, separate from the session's test stack so that a killed process here never
disturbs another test. No intent model is active: the bot answers every message
(a fallback, then a handoff that asks for an email, then asks again), which is all
the delivery guarantees need.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import redis

from devserver.embedded import EmbeddedPostgres, EmbeddedRedis
from devserver.processes import beat_command, free_port, web_command
from tests.live import BASE_DIR, Process, start_web, worker_process

# Fast sweeps, so a lost reply task is found within seconds.
SWEEP_AFTER = 3


@dataclass
class FaultStack:
    pg: EmbeddedPostgres
    redis: EmbeddedRedis
    env: dict[str, str]
    log_dir: Path
    port: int
    web: Process
    worker: Process
    beat: Process
    old_workers: list[Process] = field(default_factory=list)

    def start_web(self) -> None:
        self.web = Process("web", web_command(self.port), self.log_dir / "web.log")
        start_web(self.web, self.port, self.env)

    def start_worker(self) -> None:
        self.old_workers.append(self.worker)
        self.worker = worker_process(self.log_dir, queues="inference")
        self.worker.start(self.env)

    async def kill_worker_mid_task(self, *, timeout: float = 20.0) -> None:
        """SIGKILL the worker while it holds a task it has not finished.

        With late acknowledgement a task the worker has taken sits in Redis's
        ``unacked`` hash until it is done; killed then, the whole worker gone,
        nothing gives it back before the broker's visibility timeout (an hour).
        """
        client = redis.Redis.from_url(self.redis.url)
        try:
            deadline = time.monotonic() + timeout
            while not client.hlen("unacked"):
                assert time.monotonic() < deadline, "the worker never held a task"
                await asyncio.sleep(0.005)
            self.kill_worker()
            assert client.hlen("unacked"), "the task finished before the kill"
        finally:
            client.close()

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crash would."""
        assert self.worker.process is not None
        main = psutil.Process(self.worker.process.pid)
        for process in [*main.children(recursive=True), main]:
            process.kill()
        self.worker.process.wait()

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.url, autocommit=True) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    root = tmp_path_factory.mktemp("faults")
    pg = EmbeddedPostgres(root / "postgres", free_port())
    redis = EmbeddedRedis(root / "redis", free_port(), persist=False)
    pg.start()
    redis.start()
    env = {
        **os.environ,
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "PYTHONUNBUFFERED": "1",
        "REPLY_SWEEP_AFTER_SECONDS": str(SWEEP_AFTER),
        "REPLY_SWEEP_EVERY_SECONDS": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    port = free_port()
    log_dir = root / "logs"
    log_dir.mkdir()
    worker = worker_process(log_dir, queues="inference")
    beat = Process(
        "beat", beat_command(schedule=root / "beat-schedule"), log_dir / "beat.log"
    )
    stack = FaultStack(
        pg=pg,
        redis=redis,
        env=env,
        log_dir=log_dir,
        port=port,
        web=Process("web", [], log_dir / "web.log"),
        worker=worker,
        beat=beat,
    )
    worker.start(env)
    beat.start(env)
    stack.start_web()
    try:
        yield stack
    finally:
        for process in (stack.web, stack.worker, stack.beat, *stack.old_workers):
            process.stop()
        redis.stop()
        pg.stop()


def wait_until(condition: object, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")
