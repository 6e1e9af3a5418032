"""Ports and child processes: what the embedded servers, `make run` and the
end-to-end tests all need to start a process and know when it serves."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


class StartError(RuntimeError):
    """A development process could not start; the message says why in one line."""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int,
    *,
    process: subprocess.Popen[bytes],
    name: str,
    log: Path,
    timeout: float = 30.0,
) -> None:
    """Until ``process`` accepts connections on ``port``; ``StartError`` if it dies
    first (with the tail of its ``log``) or takes longer than ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise StartError(f"{name} exited with {process.returncode}:\n{tail}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise StartError(f"{name} did not accept connections within {timeout:.0f} s")


def stop_process(process: subprocess.Popen[bytes], *, sig: int, timeout: float) -> None:
    """Send ``sig``, then kill the process if it has not exited within ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def web_command(port: int) -> list[str]:
    """The ASGI server on loopback, as `make run` and the end-to-end tests run it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--ws-max-size",
        "65536",
        "--no-access-log",
    ]


def celery_command(*args: str) -> list[str]:
    """``celery -A config <args>`` with this interpreter, logging at INFO."""
    return [sys.executable, "-m", "celery", "-A", "config", *args, "--loglevel", "INFO"]


def worker_command(
    *,
    name: str,
    queues: str = "inference,training,embeddings",
    concurrency: int = 2,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """A Celery worker on ``queues``, named ``name@<host>``.

    Prefork: when a child dies mid-task (killed, out of memory) the parent sees it
    and the task goes back to the queue at once (``task_reject_on_worker_lost``);
    a thread pool dies whole and its task waits for the visibility timeout.
    Training tasks' time limits also need it.
    """
    return celery_command(
        "worker",
        "-Q",
        queues,
        "-P",
        "prefork",
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        *extra,
    )


def beat_command(*, schedule: Path) -> list[str]:
    """Celery beat, keeping its schedule state in ``schedule``."""
    return celery_command("beat", "-s", str(schedule))
