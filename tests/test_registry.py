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


def test_a_live_model_switches_when_another_version_is_activated(tmp_path, activate):
    live = registry.LiveModel("intent", load_value)
    assert live.get() is None
    first, second = register(tmp_path, 1.0), register(tmp_path, 2.0)
    activate(first)
    assert live.get() == (first, 1.0)
    activate(second)
    version, value = live.get()  # type: ignore[misc]
    assert (version.pk, value) == (second.pk, 2.0)


def test_it_keeps_the_active_and_newest_artifacts_and_deletes_the_rest(
    tmp_path, activate, settings
):
    settings.MODEL_KEEP_VERSIONS = 2
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
