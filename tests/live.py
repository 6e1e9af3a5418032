"""Real server and worker processes for end-to-end and fault tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from django.db import connection

from devserver.processes import (
    free_port,
    stop_process,
    wait_for_port,
    web_command,
    worker_command,
)

BASE_DIR = Path(__file__).resolve().parent.parent
ORIGIN = "http://127.0.0.1"


def development_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A development environment with no service URLs: the process starts its own
    PostgreSQL and Redis, on any free ports, with its data in ``data_dir``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")
    }
    env.update(
        DEBUG="1",
        CONCIERGE_DATA_DIR=str(data_dir),
        CONCIERGE_PG_PORT="0",
        CONCIERGE_REDIS_PORT="0",
        **extra,
    )
    return env


def child_env() -> dict[str, str]:
    """The environment of a child process: the test database, the test Redis."""
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    env["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    env["SECURE_SSL_REDIRECT"] = "0"
    env["DEMO"] = "1"  # the browser tests drive the demo shop's pages
    env["PYTHONUNBUFFERED"] = "1"
    # Mail (the order-action codes) lands in files a test can read: see sent_mail.
    env["EMAIL_URL"] = f"file:///{mail_dir()}"
    return env


def mail_dir() -> Path:
    """The folder the live processes of this test run write their mail to."""
    folder = Path(tempfile.gettempdir()) / f"concierge-live-mail-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    return folder


def sent_mail(to: str) -> list[str]:
    """The mails the live processes sent to ``to``, oldest first, as raw text."""
    mails = []
    for path in sorted(mail_dir().glob("*.log"), key=lambda p: p.stat().st_mtime):
        for raw in path.read_text().split("-" * 79):
            if f"To: {to}" in raw:
                mails.append(raw)
    return mails


@dataclass
class Process:
    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.args, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            stop_process(self.process, sig=sig, timeout=20)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def web_process(log_dir: Path, port: int | None = None) -> tuple[Process, int]:
    port = port or free_port()
    args = web_command(port)
    return Process(f"web-{port}", args, log_dir / f"web-{port}.log"), port


def worker_process(
    log_dir: Path, queues: str = "inference,training,embeddings"
) -> Process:
    name = f"worker-{uuid.uuid4().hex[:6]}"
    args = worker_command(
        name=name,
        queues=queues,
        extra=("--without-gossip", "--without-mingle", "--without-heartbeat"),
    )
    return Process(name, args, log_dir / f"{name}.log")


def start_web(process: Process, port: int, env: dict[str, str]) -> None:
    process.start(env)
    assert process.process is not None
    wait_for_port(
        port, process=process.process, name=process.name, log=process.log, timeout=60
    )


async def receive_until(
    ws: Any, predicate: Any, *, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Frames received until one satisfies ``predicate`` (that one included)."""
    import asyncio

    frames: list[dict[str, Any]] = []

    async def collect() -> None:
        while True:
            frame = json.loads(await ws.recv())
            frames.append(frame)
            if predicate(frame):
                return

    await asyncio.wait_for(collect(), timeout)
    return frames


class ws_connect:  # named like the websockets.connect it wraps
    """A websocket to the chat that has said ``hello``, from the server's own origin
    unless told otherwise; ``await`` it or use it in ``async with``.

    ``hello=False`` connects without the first frame, as a bare client would.
    """

    def __init__(
        self,
        port: int,
        *,
        token: str | None = None,
        conversation: str | None = None,
        origin: str | None = None,
        hello: bool = True,
    ) -> None:
        self.connect = websockets.connect(
            f"ws://127.0.0.1:{port}/ws/chat/",
            origin=origin or f"{ORIGIN}:{port}",  # type: ignore[arg-type]
        )
        self.hello = {"type": "hello", "token": token, "conversation": conversation}
        self.say_hello = hello
        self.ws: Any = None

    async def _open(self) -> Any:
        self.ws = await self.connect
        if self.say_hello:
            await self.ws.send(json.dumps(self.hello))
        return self.ws

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> Any:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()


def wait_for_idle_workers(timeout: float = 60.0) -> None:
    """Until no task is queued or running: a test must not end mid-task, or the
    database flush between tests would race the worker's writes."""
    import time

    import redis
    from django.conf import settings

    from config import celery_app

    client = redis.Redis.from_url(str(settings.REDIS_URL))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            queued = [client.llen(q) for q in ("inference", "training", "embeddings")]
            active = celery_app.control.inspect(timeout=0.5).active() or {}
            if not any(queued) and not any(active.values()):
                return
            time.sleep(0.2)
        raise TimeoutError("workers still busy after the test")
    finally:
        client.close()
