"""Hot swap: a process moves to a newly activated model in the background.

The loader thread reads the database on its own connection, so these tests commit
(``transaction=True``) as an operator's activation does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ml import hotswap, registry
from ml.hotswap import HotModel, Served
from ml.models import ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)

SWITCH_WITHIN_S = 10


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"


class Loads:
    """A loader for artifacts holding one number, noting which thread loaded what."""

    def __init__(self) -> None:
        self.threads: list[tuple[float, str]] = []

    def __call__(self, path: Path) -> float:
        value = float(json.loads((path / "config.json").read_text())["value"])
        self.threads.append((value, threading.current_thread().name))
        return value


@pytest.fixture
def loads() -> Loads:
    return Loads()


@pytest.fixture
def hot(loads: Loads) -> Iterator[HotModel[float]]:
    model: HotModel[float] = HotModel("intent", loads, probe=lambda value: value)
    yield model
    model.reset()


def register(tmp_path: Path, value: float) -> ModelVersion:
    source = tmp_path / f"trained-{value}"
    source.mkdir(parents=True)
    (source / "config.json").write_text(json.dumps({"value": value}))
    save_file({"weight": torch.full((2,), value)}, str(source / "model.safetensors"))
    return registry.register(
        kind="intent", source_dir=source, metrics={}, trained_on={}
    )


def corrupt(version: ModelVersion) -> None:
    weights = Path(version.artifact_path) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))


def until(condition: Callable[[], bool], *, what: str) -> None:
    deadline = time.monotonic() + SWITCH_WITHIN_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {SWITCH_WITHIN_S} s: {what}")
        time.sleep(0.05)


def serving(hot: HotModel[float]) -> Served[float]:
    served = hot.served()
    assert served is not None
    return served


def test_it_swaps_in_a_new_version_in_the_background(tmp_path, hot, loads):
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)
    hot.warm()
    assert serving(hot).loaded_in == "start"
    registry.activate(second)
    seen: list[float] = []

    def second_served() -> bool:
        seen.append(serving(hot).model)
        return seen[-1] == 2.0

    until(second_served, what="the second version served")
    assert set(seen) <= {1.0, 2.0} and seen == sorted(seen)
    served = serving(hot)
    assert (served.version.pk, served.loaded_in) == (second.pk, "background")
    # The request path never loaded: the start did, then the loader thread.
    assert loads.threads == [(1.0, "MainThread"), (2.0, hotswap.LOADER_THREAD)]


def test_it_notices_an_activation_whose_message_was_lost(
    tmp_path, hot, settings, monkeypatch
):
    settings.MODEL_POLL_SECONDS = 1
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)
    hot.warm()
    monkeypatch.setattr(registry, "ACTIVATIONS_CHANNEL", "nobody-listens-here")
    registry.activate(second)
    until(lambda: serving(hot).model == 2.0, what="the poll finding the second")


def test_a_corrupt_artifact_is_refused_at_activation_and_the_old_one_answers(
    tmp_path, hot
):
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)
    hot.warm()
    corrupt(second)
    with pytest.raises(registry.ArtifactError, match="does not match"):
        registry.activate(second)
    second.refresh_from_db()
    assert second.status == "candidate"
    assert "refused at activation" in second.load_error
    assert serving(hot).version.pk == first.pk


def test_an_artifact_swapped_on_disk_after_activation_is_refused_and_reported(
    tmp_path, hot, loads, settings, monkeypatch
):
    settings.MODEL_POLL_SECONDS = 1
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)
    hot.warm()
    # The activation's own check passes; the bytes change before any process loads
    # them (a bad restore, a disk fault): the loader's hash check must catch it.
    original_check = registry.verified_path
    checked = threading.Event()

    def check_then_corrupt(version: ModelVersion) -> Path:
        path = original_check(version)
        if version.pk == second.pk and not checked.is_set():
            checked.set()
            corrupt(second)
        return path

    # Only the activation's check: the loader imported its own reference.
    monkeypatch.setattr(registry, "verified_path", check_then_corrupt)
    registry.activate(second)
    assert checked.is_set()
    until(
        lambda: bool(ModelVersion.objects.get(pk=second.pk).load_error),
        what="the failed load reported on the version",
    )
    second.refresh_from_db()
    assert "does not match" in second.load_error and second.load_failed
    assert second.status == "active"  # the operator decides; the processes refuse
    time.sleep(2 * settings.MODEL_POLL_SECONDS)  # polls that see it again
    assert serving(hot).version.pk == first.pk
    assert [value for value, _ in loads.threads] == [1.0]
    # A process started now serves the previous good version, not nothing.
    hot.reset()
    restarted = hot.warm()
    assert restarted is not None and restarted.version.pk == first.pk


def test_it_never_goes_back_to_the_version_it_left(tmp_path, hot):
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)
    stale_row = ModelVersion.objects.get(pk=first.pk)  # read before the switch
    registry.activate(second)
    hot.warm()
    assert serving(hot).version.pk == second.pk
    assert not hot.offer(stale_row)
    assert serving(hot).version.pk == second.pk
    # A rollback is a new activation of the old version: processes move to it.
    registry.activate(first)
    until(lambda: serving(hot).version.pk == first.pk, what="the rollback")
    assert serving(hot).loaded_in == "background"


def test_the_intent_artifact_is_hashed_once_per_load(
    tmp_path, demo_intent_model_dir, monkeypatch
):
    from classifier import model as intent_model
    from classifier import serving

    version = registry.register(
        kind="intent", source_dir=demo_intent_model_dir, metrics={}, trained_on={}
    )
    registry.activate(version)
    hashed: list[str] = []
    artifact_sha256 = registry.artifact_sha256
    file_sha256 = intent_model.file_sha256

    def artifact_hash(directory: Path) -> str:
        hashed.append("artifact")
        return artifact_sha256(directory)

    def file_hash(path: Path) -> str:
        hashed.append(path.name)
        return file_sha256(path)

    monkeypatch.setattr(registry, "artifact_sha256", artifact_hash)
    monkeypatch.setattr(intent_model, "file_sha256", file_hash)
    serving.live_model.reset()
    serving.warm()
    result = serving.classify("where is my order")
    assert result is not None and result.model_version_id == version.pk
    assert hashed == ["artifact"]


@pytest.mark.e2e
def test_a_swap_under_a_stream_of_classifications_in_two_processes(
    tmp_path, demo_intent_model_dir
):
    """Two serving processes classify from eight threads each while a new version
    goes live: no errors, no classification waits for a load (each is answered by
    a model loaded at start or by the loader thread, never by the request), every
    process switches, and none goes back."""
    import subprocess
    import sys

    from tests.live import BASE_DIR, child_env

    first, second = (
        registry.register(
            kind="intent", source_dir=demo_intent_model_dir, metrics={}, trained_on={}
        )
        for _ in range(2)
    )
    registry.activate(first)
    out = tmp_path / "stream"
    out.mkdir()
    names = ["serving-a", "serving-b"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.hotswap_stream", str(out), name],
            cwd=BASE_DIR,
            env=child_env(),
        )
        for name in names
    ]
    try:
        ready = [out / f"{name}.ready" for name in names]
        deadline = time.monotonic() + 240
        while not all(path.exists() for path in ready):
            assert all(p.poll() is None for p in processes), "a process died"
            assert time.monotonic() < deadline, "the processes did not start"
            time.sleep(0.2)
        time.sleep(3)  # both streams under way on the first version
        registry.activate(second)
        # Well within the promised 10 s on a quiet machine; the margin is for a
        # loaded one (this is a test of what happens, not of how fast).
        switched = [out / f"{name}.switched" for name in names]
        deadline = time.monotonic() + 60
        while not all(path.exists() for path in switched):
            assert time.monotonic() < deadline, "a process did not switch"
            time.sleep(0.2)
        time.sleep(3)  # a stream on the new version
        (out / "stop").touch()
        for process in processes:
            assert process.wait(timeout=120) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    total = 0
    for name in names:
        results = json.loads((out / f"{name}.json").read_text())
        total += len(results)
        assert [r for r in results if "error" in r] == []
        old = [r for r in results if r["version"] == first.pk]
        new = [r for r in results if r["version"] == second.pk]
        assert len(old) + len(new) == len(results)
        assert old and new, f"{name} did not switch"
        # Nothing started after a classification on the new version had finished
        # was answered by the old one.
        switched = min(r["end"] for r in new)
        assert [r for r in old if r["start"] > switched] == [], f"{name} went back"
        assert {r["loaded_in"] for r in old} == {"start"}
        assert {r["loaded_in"] for r in new} == {"background"}
    assert total >= 500, f"only {total} classifications"


def serves(hot: HotModel[float], value: float) -> bool:
    served = hot.served()
    return served is not None and served.model == value


def test_it_follows_a_database_restored_without_the_version_it_serves(
    tmp_path, hot, settings
):
    settings.MODEL_POLL_SECONDS = 1
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)
    registry.activate(second)
    hot.warm()
    assert serving(hot).version.activation == 2
    # A restore from before either went live: their rows are gone, and the restored
    # active version carries a lower activation number than the one served.
    ModelVersion.objects.all().delete()
    restored = register(tmp_path, 3.0)
    registry.activate(restored)
    until(lambda: serves(hot, 3.0), what="the restored version served")
