"""The model registry: artifacts on disk, versions in PostgreSQL, activation.

An artifact is a folder of ``config.json`` + safetensors files. Its SHA-256 (over
every file's name and bytes) is stored with the version and checked before every
load, so a process never serves a file that is not the one that was registered.

Disk: after each registration, :func:`prune` deletes artifacts, but never those of
the active version, of the last ``MODEL_KEEP_PROMOTED`` versions that were live (the
rollback targets) or of the newest ``MODEL_KEEP_VERSIONS`` others; the rows
(metrics, history) stay.

Switching: :func:`activate` checks the artifact, records the new active version
with the kind's next activation number and, after commit, publishes it on Redis
(:data:`ACTIVATIONS_CHANNEL`). Serving processes load it in the background and swap
(``ml.hotswap``); they also poll, so a lost message delays a switch by seconds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from ml.models import ModelVersion

logger = logging.getLogger(__name__)
# Weights only as safetensors; configs and tokenizer vocabularies as plain text;
# exported graphs as ONNX (a graph format: loading one runs no code).
ALLOWED_SUFFIXES = {".json", ".safetensors", ".txt", ".onnx"}
# Only ops probes read the cached answer; serving processes ask the database.
ACTIVE_CACHE_SECONDS = 10
ACTIVATIONS_CHANNEL = "concierge:ml:activations"


class ArtifactError(Exception):
    """An artifact is missing, holds a forbidden file, or fails its hash check."""


def artifact_sha256(directory: Path) -> str:
    """SHA-256 over the sorted file names and contents of an artifact folder.

    Only JSON and safetensors files may be in it: pickles and other formats that can
    run code on load are refused outright.
    """
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    if not files:
        raise ArtifactError(f"{directory}: no files")
    for path in files:
        if path.suffix not in ALLOWED_SUFFIXES:
            raise ArtifactError(
                f"{path}: only .json, .txt, .onnx and .safetensors files are allowed"
            )
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def register(
    *,
    kind: str,
    source_dir: Path,
    metrics: dict[str, Any],
    trained_on: dict[str, Any],
) -> ModelVersion:
    """Copy a freshly trained artifact into MODEL_DIR and record it as a candidate."""
    with transaction.atomic():
        # The advisory lock makes version numbers unique under concurrent training.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [kind])
        latest = ModelVersion.objects.filter(kind=kind).aggregate(v=Max("version"))
        version = (latest["v"] or 0) + 1
        target = Path(settings.MODEL_DIR) / kind / f"v{version}"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source_dir, target)
        registered = ModelVersion.objects.create(
            kind=kind,
            version=version,
            metrics=metrics,
            trained_on=trained_on,
            artifact_path=str(target),
            sha256=artifact_sha256(target),
        )
    prune(kind)
    return registered


def prune(kind: str) -> list[ModelVersion]:
    """Delete the artifacts ``kind`` no longer needs.

    Kept: the active version's, those of the last ``MODEL_KEEP_PROMOTED`` versions
    that were live (so "activate" on the previous good version always works, however
    many rejected candidates came since), and those of the newest
    ``MODEL_KEEP_VERSIONS`` other versions.

    Returns:
        The versions whose artifacts were deleted.
    """
    versions = ModelVersion.objects.filter(kind=kind)
    keep = set(
        versions.filter(activation__gt=0, load_error="")
        .exclude(status=ModelVersion.Status.ACTIVE)
        .order_by("-activation")
        .values_list("pk", flat=True)[: settings.MODEL_KEEP_PROMOTED]
    )
    stale = (
        versions.filter(artifact_deleted__isnull=True)
        .exclude(status=ModelVersion.Status.ACTIVE)
        .exclude(pk__in=keep)
        .order_by("-version")[settings.MODEL_KEEP_VERSIONS :]
    )
    pruned = []
    for version in stale:
        shutil.rmtree(version.artifact_path, ignore_errors=True)
        version.artifact_deleted = timezone.now()
        version.save(update_fields=["artifact_deleted"])
        logger.info("deleted the artifact of %s", version)
        pruned.append(version)
    return pruned


def activate(model_version: ModelVersion) -> None:
    """Make ``model_version`` the active one of its kind; the old one is retired.

    Activating a version that was live before is a rollback: it gets a new
    activation number, so every process moves to it.

    Raises:
        ArtifactError: the artifact is gone or fails its hash check; nothing changes
            but the version's ``load_error``, so no process is ever pointed at a
            model it cannot load.
    """
    try:
        verified_path(model_version)
    except ArtifactError as error:
        load_failure_record(model_version, error=f"refused at activation: {error}")
        raise
    with transaction.atomic():
        # Lock the kind's rows: two activations at once queue up, never interleave,
        # and their activation numbers follow the order they committed in.
        rows = ModelVersion.objects.select_for_update().filter(kind=model_version.kind)
        latest = max((row.activation for row in rows), default=0)
        ModelVersion.objects.filter(
            kind=model_version.kind, status=ModelVersion.Status.ACTIVE
        ).exclude(pk=model_version.pk).update(status=ModelVersion.Status.RETIRED)
        model_version.status = ModelVersion.Status.ACTIVE
        model_version.activated = timezone.now()
        model_version.activation = latest + 1
        model_version.load_error = ""
        model_version.load_failed = None
        model_version.save(
            update_fields=[
                "status",
                "activated",
                "activation",
                "load_error",
                "load_failed",
            ]
        )
        kind, pk, activation = model_version.kind, model_version.pk, latest + 1
        transaction.on_commit(
            lambda: _announce(kind=kind, pk=pk, activation=activation)
        )


def _announce(*, kind: str, pk: int, activation: int) -> None:
    """Tell the probes' cache and every serving process; the database is already
    right, so a Redis outage only delays the switch until the processes' next poll."""
    try:
        cache.set(_cache_key(kind), pk, ACTIVE_CACHE_SECONDS)
        client = redis.Redis.from_url(
            str(settings.REDIS_URL), socket_timeout=2, socket_connect_timeout=2
        )
        try:
            client.publish(
                ACTIVATIONS_CHANNEL,
                json.dumps({"kind": kind, "id": pk, "activation": activation}),
            )
        finally:
            client.close()
    except Exception:
        logger.warning("could not announce %s v%s; processes poll", kind, pk)


def load_failure_record(model_version: ModelVersion, *, error: str) -> None:
    """Note on the version's row (shown in the admin) that it could not be loaded."""
    logger.error("model %s not loaded: %s", model_version, error)
    now = timezone.now()
    ModelVersion.objects.filter(pk=model_version.pk).update(
        load_error=error[:2000], load_failed=now
    )
    model_version.load_error, model_version.load_failed = error[:2000], now


def reject(model_version: ModelVersion) -> None:
    model_version.status = ModelVersion.Status.REJECTED
    model_version.save(update_fields=["status"])


def _cache_key(kind: str) -> str:
    return f"ml:active:{kind}"


def active_version(kind: str) -> int | None:
    """The id of the active version of ``kind`` (for probes; cached seconds)."""
    key = _cache_key(kind)
    cached = cache.get(key)
    if cached is not None:
        return int(cached) or None
    row = (
        ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )
    # ``add``, not ``set``: if an activation committed after the read above, its
    # announcement already stored the new id, and this stale answer must not
    # overwrite it.
    cache.add(key, row or 0, ACTIVE_CACHE_SECONDS)
    return row


def forget_active_versions() -> None:
    """Drop every process's cached answer to :func:`active_version`, after the
    rows changed behind the registry's back (a database restore)."""
    cache.delete_many([_cache_key(kind) for kind in ModelVersion.Kind.values])


def verified_path(model_version: ModelVersion) -> Path:
    """The artifact folder, after checking its hash against the registry."""
    path = Path(model_version.artifact_path)
    if model_version.artifact_deleted is not None:
        raise ArtifactError(
            f"{model_version}: its artifact was deleted on "
            f"{model_version.artifact_deleted:%Y-%m-%d} to save disk "
            f"(MODEL_KEEP_VERSIONS={settings.MODEL_KEEP_VERSIONS})"
        )
    if not path.is_dir():
        raise ArtifactError(f"{model_version}: artifact folder {path} is missing")
    actual = artifact_sha256(path)
    if actual != model_version.sha256:
        raise ArtifactError(
            f"{model_version}: artifact hash {actual[:12]}… does not match the "
            f"registered {model_version.sha256[:12]}…; refusing to load it"
        )
    return path
