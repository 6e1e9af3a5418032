"""The model registry: hashed artifacts, one active version, live switching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ml import registry
from ml.models import ModelVersion

pytestmark = pytest.mark.django_db


def make_artifact(directory: Path, value: float) -> Path:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps({"value": value}))
    save_file({"weight": torch.full((2,), value)}, str(directory / "model.safetensors"))
    return directory


def load_value(path: Path) -> float:
    return float(json.loads((path / "config.json").read_text())["value"])


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"


@pytest.fixture
def activate(django_capture_on_commit_callbacks):
    """``registry.activate`` with its after-commit work run, as in production."""

    def run(version: ModelVersion) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            registry.activate(version)

    return run


def register(tmp_path: Path, value: float) -> ModelVersion:
    source = make_artifact(tmp_path / f"trained-{value}", value)
    return registry.register(
        kind="intent", source_dir=source, metrics={"accuracy": value}, trained_on={}
    )


def test_it_numbers_versions_per_kind_and_starts_them_as_candidates(tmp_path):
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    assert (first.version, second.version) == (1, 2)
    assert {first.status, second.status} == {"candidate"}
    assert Path(second.artifact_path).parent == tmp_path / "models" / "intent"


def test_activating_a_version_retires_the_one_before(tmp_path, activate):
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    activate(first)
    activate(second)
    first.refresh_from_db()
    assert (first.status, second.status) == ("retired", "active")
    assert registry.active_version("intent") == second.pk


def test_it_refuses_to_load_an_artifact_whose_bytes_changed(tmp_path):
    version = register(tmp_path, 1.0)
    weights = Path(version.artifact_path) / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(registry.ArtifactError, match="does not match"):
        registry.verified_path(version)


def test_it_refuses_anything_but_json_and_safetensors(tmp_path):
    source = make_artifact(tmp_path / "trained", 1.0)
    (source / "model.pkl").write_bytes(b"\x80\x04.")
    with pytest.raises(
        registry.ArtifactError, match=r"only \.json, \.txt, \.onnx and \.safetensors"
    ):
        registry.register(kind="intent", source_dir=source, metrics={}, trained_on={})
    assert not ModelVersion.objects.exists()


def test_it_keeps_the_active_and_newest_artifacts_and_deletes_the_rest(
    tmp_path, activate, settings
):
    settings.MODEL_KEEP_VERSIONS = 2
    settings.MODEL_KEEP_PROMOTED = 1
    first = register(tmp_path, 1.0)
    activate(first)
    others = [register(tmp_path, float(value)) for value in (2, 3, 4, 5)]
    for version in [first, *others]:
        version.refresh_from_db()
    kept = {v.version for v in [first, *others] if Path(v.artifact_path).is_dir()}
    assert kept == {1, 4, 5}
    deleted = [v.artifact_deleted is not None for v in others]
    assert deleted == [True, True, False, False]
    # The rows stay: their metrics remain part of the history.
    assert ModelVersion.objects.filter(kind="intent").count() == 5


def test_activating_a_version_whose_artifact_is_gone_changes_nothing(
    tmp_path, activate, settings
):
    settings.MODEL_KEEP_VERSIONS = 1
    settings.MODEL_KEEP_PROMOTED = 1
    first = register(tmp_path, 1.0)
    activate(first)
    stale = register(tmp_path, 2.0)
    register(tmp_path, 3.0)
    stale.refresh_from_db()
    with pytest.raises(registry.ArtifactError, match=r"deleted on .* to save disk"):
        activate(stale)
    first.refresh_from_db()
    assert (first.status, stale.status) == ("active", "candidate")
    assert registry.active_version("intent") == first.pk


def test_it_keeps_the_last_promoted_versions_however_many_rejects_came_since(
    tmp_path, activate, settings
):
    settings.MODEL_KEEP_VERSIONS = 1
    settings.MODEL_KEEP_PROMOTED = 2
    promoted = []
    for value in (1.0, 2.0, 3.0):
        promoted.append(register(tmp_path, value))
        activate(promoted[-1])
    rejects = [register(tmp_path, 10.0 + n) for n in range(4)]
    for version in rejects[:-1]:
        registry.reject(version)
    for version in [*promoted, *rejects]:
        version.refresh_from_db()
    kept = {v.version for v in [*promoted, *rejects] if v.artifact_deleted is None}
    # The active v3, the two live before it (v1, v2), the newest other (v7).
    assert kept == {1, 2, 3, 7}
    assert [v.can_roll_back_to for v in promoted] == [True, True, False]
    # The oldest promoted version leaves the rollback window when another goes live.
    activate(rejects[-1])
    register(tmp_path, 20.0)
    promoted[0].refresh_from_db()
    assert promoted[0].artifact_deleted is not None
    assert not promoted[0].can_roll_back_to


def test_activating_a_previous_good_version_rolls_back_and_numbers_it_anew(
    tmp_path, activate
):
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    activate(first)
    activate(second)
    activate(first)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("active", "retired")
    assert (first.activation, second.activation) == (3, 2)
    assert second.can_roll_back_to


def test_a_stale_read_cannot_put_the_old_version_back_in_the_cache(
    tmp_path, monkeypatch
):
    """A probe that read the old row just before an activation committed must not
    write it back over the new answer (the switch would wait out the cache)."""
    from django.core.cache import cache

    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    registry.activate(first)

    class ActivationDuringTheRead:
        """The real cache; the second version's activation commits and announces
        itself right after the probe found the cache empty, before it reads the
        (still old) row and stores it."""

        def __getattr__(self, name: str) -> object:
            return getattr(cache, name)

        def get(self, key: str) -> object:
            registry._announce(kind="intent", pk=second.pk, activation=2)
            return None

    monkeypatch.setattr(registry, "cache", ActivationDuringTheRead())
    assert registry.active_version("intent") == first.pk  # the stale read itself
    assert cache.get("ml:active:intent") == second.pk
