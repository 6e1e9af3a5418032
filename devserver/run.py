"""``make run`` (``python -m devserver.run``): the whole stack in one terminal.

Starts PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL are set), migrates,
loads the demo data once (migrate also creates the periodic tasks once), then runs
the ASGI server, one Celery worker per queue (inference, training, embeddings) and
Celery beat until Ctrl-C, which stops every process started here. The children
find the databases through the environment they inherit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devserver.embedded import BASE_DIR, servers_in_environment
from devserver.processes import (
    HOST,
    StartError,
    beat_command,
    wait_for_port,
    web_command,
    worker_command,
)


def say(message: str) -> None:
    print(f"[concierge] {message}", flush=True)


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)


def processes(port: int) -> dict[str, list[str]]:
    """The web server, one Celery worker per queue (as compose runs them), beat."""
    return {
        "web": web_command(port),
        "worker-inference": worker_command(name="inference", queues="inference"),
        "worker-training": worker_command(
            name="training", queues="training", concurrency=1
        ),
        "worker-embeddings": worker_command(
            name="embeddings", queues="embeddings", concurrency=1
        ),
        # The shop's webhooks wait on its servers: a worker of their own.
        "worker-webhooks": worker_command(
            name="webhooks", queues="webhooks", concurrency=1
        ),
        "beat": beat_command(schedule=BASE_DIR / ".data" / "celerybeat-schedule"),
    }


def supervise(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """Wait until Ctrl-C (or a child dies), then stop every child."""
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    say(f"{name} exited with {child.returncode}; stopping everything")
                    stopping = True
            time.sleep(0.3)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        say("stopped the web server, the workers and beat")


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    os.chdir(BASE_DIR)
    try:
        # No reuse of a running `make run`'s servers: a second one is refused with
        # a line saying that another owner is active.
        with servers_in_environment():
            manage("migrate", "--no-input")
            # CONCIERGE_SKIP_TRAINING=1 skips training the first model (tests).
            skip = os.environ.get("CONCIERGE_SKIP_TRAINING") == "1"
            manage("setup_demo", *(["--no-train"] if skip else []))
            children = {
                # Own process groups: Ctrl-C reaches them only through us, so the
                # shutdown order (children, then the databases) is ours to keep.
                name: subprocess.Popen(cmd, cwd=BASE_DIR, start_new_session=True)
                for name, cmd in processes(port).items()
            }
            try:
                wait_for_port(
                    port,
                    process=children["web"],
                    name="web server",
                    log=Path(os.devnull),
                    timeout=60,
                )
                say(
                    f"Concierge is running: http://{HOST}:{port}/  (admin: "
                    f"http://{HOST}:{port}/admin/) — Ctrl-C stops everything"
                )
            except StartError as error:
                say(str(error))
            supervise(children)
    except StartError as error:
        sys.exit(f"[concierge] {error}")
    except subprocess.CalledProcessError as error:
        sys.exit(f"[concierge] {' '.join(error.cmd[1:])} failed ({error.returncode})")


if __name__ == "__main__":
    main()
