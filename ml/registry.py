"""The model registry: artifacts on disk, versions in PostgreSQL, hot switching.

An artifact is a folder of ``config.json`` + safetensors files. Its SHA-256 (over
every file's name and bytes) is stored with the version and checked before every
load, so a process never serves a file that is not the one that was registered.

Disk: after each registration, :func:`prune` deletes the artifacts of all but the
newest ``MODEL_KEEP_VERSIONS`` inactive versions of the kind; their rows (metrics,
history) stay.

Switching: :func:`activate` checks the artifact, then records the new active
version; every process (web servers and workers alike) asks
:func:`active_version` on each use — a Redis lookup — and reloads when the answer
changes. No restart, no signal to deliver.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from ml.models import ModelVersion

logger = logging.getLogger(__name__)
T = TypeVar("T")
# Weights only as safetensors; configs and tokenizer vocabularies as plain text;
# exported graphs as ONNX (a graph format: loading one runs no code).
ALLOWED_SUFFIXES = {".json", ".safetensors", ".txt", ".onnx"}
ACTIVE_CACHE_SECONDS = 300


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
    """Delete the artifacts of all but the newest ``MODEL_KEEP_VERSIONS`` inactive
    versions of ``kind``. The active version's artifact is always kept.

    Returns:
        The versions whose artifacts were deleted.
    """
    stale = (
        ModelVersion.objects.filter(kind=kind, artifact_deleted__isnull=True)
        .exclude(status=ModelVersion.Status.ACTIVE)
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

    Raises:
        ArtifactError: the artifact is gone or fails its hash check; nothing changes,
            so no process is ever pointed at a model it cannot load.
    """
    verified_path(model_version)
    with transaction.atomic():
        # Lock the kind's rows: two activations at once queue up, never interleave.
        list(ModelVersion.objects.select_for_update().filter(kind=model_version.kind))
        ModelVersion.objects.filter(
            kind=model_version.kind, status=ModelVersion.Status.ACTIVE
        ).exclude(pk=model_version.pk).update(status=ModelVersion.Status.RETIRED)
        model_version.status = ModelVersion.Status.ACTIVE
        model_version.activated = timezone.now()
        model_version.save(update_fields=["status", "activated"])
        transaction.on_commit(lambda: cache.delete(_cache_key(model_version.kind)))


def reject(model_version: ModelVersion) -> None:
    model_version.status = ModelVersion.Status.REJECTED
    model_version.save(update_fields=["status"])


def _cache_key(kind: str) -> str:
    return f"ml:active:{kind}"


def active_version(kind: str) -> int | None:
    """The id of the active version of ``kind``, as every process sees it now."""
    key = _cache_key(kind)
    cached = cache.get(key)
    if cached is not None:
        return int(cached) or None
    row = (
        ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )
    cache.set(key, row or 0, ACTIVE_CACHE_SECONDS)
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


class LiveModel(Generic[T]):
    """The active model of one kind in this process, reloaded when it changes.

    Args:
        kind: a ``ModelVersion.Kind``.
        loader: builds the model from a verified artifact folder.
    """

    def __init__(self, kind: str, loader: Callable[[Path], T]) -> None:
        self.kind = kind
        self.loader = loader
        self._lock = threading.Lock()
        self._loaded: tuple[ModelVersion, T] | None = None

    def get(self) -> tuple[ModelVersion, T] | None:
        """The active ``(version, model)``, or ``None`` when none is active."""
        version_id = active_version(self.kind)
        if version_id is None:
            return None
        loaded = self._loaded
        if loaded is None or loaded[0].pk != version_id:
            with self._lock:
                loaded = self._loaded
                if loaded is None or loaded[0].pk != version_id:
                    version = ModelVersion.objects.get(pk=version_id)
                    model = self.loader(verified_path(version))
                    logger.info("loaded %s", version)
                    self._loaded = loaded = (version, model)
        return loaded

    def reset(self) -> None:
        with self._lock:
            self._loaded = None
