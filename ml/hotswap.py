"""The model a process serves, swapped in the background when another goes live.

Each kind a process serves has one :class:`HotModel`. A request reads its current
``Served`` record, one attribute read: it never loads, hashes or waits for a model,
except the very first time in a process that did not :func:`warm` at start.

One thread per process (the loader, named :data:`LOADER_THREAD`) learns of an
activation from the Redis message :func:`ml.registry.activate` publishes after
commit, or within ``MODEL_POLL_SECONDS`` from the database if it missed the
message. It loads the new version, checking the artifact's hash once (the
registry's, over every byte), warms it with one prediction, and only then swaps it
in with one reference assignment; until then requests get the old one. A version
that fails to load or to hash is reported on its row (``load_error``, shown in the
admin) and in the log, and the process keeps what it had.

A process only ever moves to a higher activation number (``ModelVersion.activation``),
so a late message or a stale read cannot take it back to the version it left; a
rollback is a new activation of an older version and moves every process forward to
it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import redis
from django.conf import settings
from django.db import connections

from ml.models import ModelVersion
from ml.registry import ACTIVATIONS_CHANNEL, load_failure_record, verified_path

__all__ = [
    "LOADER_THREAD",
    "HotModel",
    "Served",
    "reset",
    "stop_watching",
    "warm",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")
LOADER_THREAD = "model-loader"
# How long the loader blocks on Redis before it looks at its stop flag again.
LISTEN_SLICE_SECONDS = 0.5

LoadedIn = Literal["start", "request", "background"]


@dataclass(frozen=True)
class Served(Generic[T]):
    """A loaded model and the version it came from.

    Attributes:
        version: the registry row.
        model: the loaded, warmed model.
        loaded_in: ``"start"`` (:func:`warm` at process start), ``"background"`` (the
            loader thread, after an activation) or ``"request"`` (the first use in a
            process that skipped :func:`warm`).
    """

    version: ModelVersion
    model: T
    loaded_in: LoadedIn


# Every HotModel of this process (the serving modules', a test's own).
_hot_models: weakref.WeakSet[HotModel[Any]] = weakref.WeakSet()


class HotModel(Generic[T]):
    """The model of one kind this process serves.

    Args:
        kind: a ``ModelVersion.Kind``.
        loader: builds the model from an artifact folder whose hash the registry
            has just checked (so it need not check it again).
        probe: one prediction on a fresh model, run before it serves anyone.
    """

    def __init__(
        self,
        kind: str,
        loader: Callable[[Path], T],
        probe: Callable[[T], object],
    ) -> None:
        self.kind = kind
        self.loader = loader
        self.probe = probe
        # Taken by whoever loads; a request that finds a model never takes it.
        self._lock = threading.Lock()
        self._served: Served[T] | None = None
        self._warmed = False
        self._used = False  # the loader only watches kinds this process serves
        # (id, activation) of versions that failed here: not tried again until an
        # operator activates them again (a new activation number).
        self._refused: set[tuple[int, int]] = set()
        _hot_models.add(self)

    def served(self) -> Served[T] | None:
        """What to serve now; ``None`` while no version of the kind can be served."""
        if not self._warmed:
            self._warm(loaded_in="request")
        _watcher.ensure_running()
        return self._served

    def current(self) -> Served[T] | None:
        """What this process holds now, without loading anything (probes, benches)."""
        return self._served

    def get(self) -> tuple[ModelVersion, T] | None:
        """``(version, model)`` of :meth:`served`."""
        served = self.served()
        return None if served is None else (served.version, served.model)

    def warm(self) -> Served[T] | None:
        """Load the active version now (at process start) and start the loader."""
        self._warm(loaded_in="start")
        _watcher.ensure_running()
        return self._served

    def offer(self, version: ModelVersion, *, history_gone: bool = False) -> bool:
        """Load and swap in ``version`` if it went live after the one served.

        Args:
            version: the kind's active row.
            history_gone: the served version's row no longer exists (a restored
                or wiped database): its activation number means nothing any more.

        Returns:
            Whether this process now serves it.
        """
        with self._lock:
            if (version.pk, version.activation) in self._refused:
                return False
            if not history_gone and not self._newer(version):
                return False
            return self._load(version, loaded_in="background")

    def reset(self) -> None:
        """Forget the model and stop the loader (tests, a restored database)."""
        stop_watching()
        with self._lock:
            self._served = None
            self._warmed = self._used = False
            self._refused.clear()

    def _newer(self, version: ModelVersion) -> bool:
        current = self._served
        return (version.pk, version.activation) not in self._refused and (
            current is None or version.activation > current.version.activation
        )

    def _warm(self, *, loaded_in: LoadedIn) -> None:
        with self._lock:
            self._used = True
            if self._warmed:
                return
            # The active version; should it fail, the newest earlier live version
            # that loads, so a process started after a bad activation still answers.
            versions = ModelVersion.objects.filter(
                kind=self.kind, artifact_deleted__isnull=True
            )
            active = list(versions.filter(status=ModelVersion.Status.ACTIVE))
            earlier = versions.filter(activation__gt=0).exclude(
                status=ModelVersion.Status.ACTIVE
            )
            candidates = active + list(
                earlier.order_by("-activation")[: settings.MODEL_KEEP_PROMOTED]
            )
            for version in candidates:
                if self._newer(version) and self._load(version, loaded_in=loaded_in):
                    break
            # With no version ever activated there is nothing to load: ask again on
            # the next use (one indexed query), so the first activation is served.
            self._warmed = bool(candidates)

    def _load(self, version: ModelVersion, *, loaded_in: LoadedIn) -> bool:
        started = time.monotonic()
        try:
            model = self.loader(verified_path(version))
            self.probe(model)
        except Exception as error:
            self._refused.add((version.pk, version.activation))
            try:
                load_failure_record(version, error=f"{type(error).__name__}: {error}")
            except Exception:
                logger.exception("could not record the failed load of %s", version)
            return False
        # The swap: one reference assignment, atomic for every reader.
        self._served = Served(version=version, model=model, loaded_in=loaded_in)
        logger.info(
            "serving %s (loaded in %s, %.1f s)",
            version,
            loaded_in,
            time.monotonic() - started,
        )
        return True


def warm() -> list[Served[object]]:
    """Load every model kind this process serves, at its start (worker start-up).

    The serving modules (``classifier.serving``, ``recommender.serving``) create
    their :class:`HotModel` on import; import them first.

    Returns:
        What each kind serves now (kinds with nothing active are left out).
    """
    served = [model.warm() for model in list(_hot_models)]
    return [s for s in served if s is not None]


def reset() -> None:
    """Forget every served model and stop the loader (tests, a restored database)."""
    for model in list(_hot_models):
        model.reset()


def stop_watching() -> None:
    """Stop this process's loader thread (it starts again on the next request)."""
    _watcher.stop()


class _Watcher:
    """The loader thread: listens for activations, polls, offers them."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pid = 0

    def ensure_running(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            return
        with self._lock:
            thread = self._thread
            # After a fork the thread object is copied but the thread is not.
            if thread is not None and thread.is_alive() and self._pid == os.getpid():
                return
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name=LOADER_THREAD, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if (
            thread is not None
            and thread.is_alive()
            and thread is not threading.current_thread()
        ):
            thread.join(timeout=30)

    def _run(self, stop: threading.Event) -> None:
        pubsub = None
        next_poll = 0.0
        while not stop.is_set():
            heard = False
            try:
                if pubsub is None:
                    pubsub = _subscribe()
                    heard = True  # what went live while nobody listened
                message = pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=LISTEN_SLICE_SECONDS
                )
                heard = heard or message is not None
            except (redis.RedisError, OSError):
                logger.warning("activation channel unavailable; polling instead")
                _close(pubsub)
                pubsub = None
                stop.wait(LISTEN_SLICE_SECONDS)
            if stop.is_set():
                break
            if heard or time.monotonic() >= next_poll:
                next_poll = time.monotonic() + float(settings.MODEL_POLL_SECONDS)
                _offer_active_versions()
        _close(pubsub)


_watcher = _Watcher()


def _subscribe() -> redis.client.PubSub:
    client = redis.Redis.from_url(
        str(settings.REDIS_URL), socket_connect_timeout=2, health_check_interval=30
    )
    pubsub = client.pubsub()
    pubsub.subscribe(ACTIVATIONS_CHANNEL)
    return pubsub


def _close(pubsub: redis.client.PubSub | None) -> None:
    if pubsub is not None:
        try:
            pubsub.close()
        except Exception:  # pragma: no cover - closing a broken connection
            logger.debug("closing the activation channel failed", exc_info=True)


def _still_recorded(served: Served[Any]) -> bool:
    """Whether the served version's row is still there as it was loaded."""
    return ModelVersion.objects.filter(
        pk=served.version.pk, activation=served.version.activation
    ).exists()


def _offer_active_versions() -> None:
    """Offer each kind in use its active version, read from the database (the
    message only says when to look: the row is the truth)."""
    in_use = [model for model in list(_hot_models) if model._used]
    if not in_use:
        return
    try:
        active = {
            version.kind: version
            for version in ModelVersion.objects.filter(
                kind__in={model.kind for model in in_use},
                status=ModelVersion.Status.ACTIVE,
            )
        }
        for model in in_use:
            version, current = active.get(model.kind), model.current()
            if version is None:
                continue
            if current is None or version.activation > current.version.activation:
                model.offer(version)
            elif version.pk != current.version.pk and not _still_recorded(current):
                model.offer(version, history_gone=True)
    except Exception:
        logger.exception("could not check for a newly activated model")
    finally:
        # This thread's own connection: idle between polls, it must not hold one.
        connections.close_all()
