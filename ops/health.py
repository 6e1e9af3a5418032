"""Liveness and readiness: what ``/healthz`` and ``/readyz`` answer.

Readiness means a customer message sent now would be stored and answered: the
database and Redis answer, a worker consuming the chat-reply queue beat recently
(``ops.heartbeat``), and the active intent model's artifact is there and passes
its hash check. The web process does not classify (workers do), so "the model is
loaded" is checked as "the model a worker would load is loadable"; a successful
hash check is remembered per version, so a probe costs a stat, not a 260 MB hash.

A failing check is named with a short reason fit for the public: an exception's
class, never its message (which can hold hosts, users or paths); the full error
goes to the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from ml import registry
from ml.models import ModelVersion
from ops import heartbeat

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    ok: bool
    reason: str = ""

    def as_json(self) -> dict[str, str]:
        if self.ok:
            return {"state": "ok"}
        return {"state": "failing", "reason": self.reason}


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return Check(ok=True)


def check_redis() -> Check:
    client = heartbeat.redis_client()
    try:
        client.ping()
    finally:
        client.close()
    return Check(ok=True)


def check_workers() -> Check:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = heartbeat.redis_client()
    try:
        workers = heartbeat.live_workers(client)
    finally:
        client.close()
    if any(queue in queues for queues in workers.values()):
        return Check(ok=True)
    return Check(
        ok=False,
        reason=f"no worker of the {queue!r} queue beat in the last "
        f"{heartbeat.ttl_seconds()} s",
    )


# (version id, sha256) pairs whose artifact passed its hash check in this process.
_verified: set[tuple[int, str]] = set()
_verified_lock = threading.Lock()


def check_intent_model() -> Check:
    version_id = registry.active_version(ModelVersion.Kind.INTENT)
    if version_id is None:
        return Check(ok=False, reason="no active intent model")
    version = ModelVersion.objects.get(pk=version_id)
    key = (version.pk, version.sha256)
    # Verified before: only make sure the folder was not removed since.
    verified = key in _verified and version.artifact_deleted is None
    if verified and Path(version.artifact_path).is_dir():
        return Check(ok=True)
    try:
        registry.verified_path(version)
    except registry.ArtifactError as error:
        logger.warning("readiness: %s", error)
        with _verified_lock:
            _verified.discard(key)
        return Check(
            ok=False,
            reason=f"the active intent model v{version.version} "
            "is missing or fails its hash check",
        )
    with _verified_lock:
        _verified.add(key)
    return Check(ok=True)


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "redis": check_redis,
    "workers": check_workers,
    "intent_model": check_intent_model,
}


def readiness() -> tuple[bool, dict[str, dict[str, str]]]:
    """Run every check; a check that raises fails with its exception's class.

    Returns:
        Whether all checks pass, and each check's state (and reason when failing).
    """
    results: dict[str, dict[str, str]] = {}
    ready = True
    for name, check in CHECKS.items():
        try:
            result = check()
        except Exception as error:
            logger.warning("readiness check %s failed", name, exc_info=True)
            result = Check(ok=False, reason=type(error).__name__)
        ready = ready and result.ok
        results[name] = result.as_json()
    return ready, results
