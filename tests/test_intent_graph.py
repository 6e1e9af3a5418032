"""The intent model served by onnxruntime from its exported graph."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from django.core.cache import cache

from benchmarks.encoder import SAMPLE
from classifier import serving
from classifier.datasets import read_csv_lines
from classifier.model import GRAPH_FILE, IntentModel
from ml import registry


@pytest.fixture(scope="module")
def graph_model_dir(demo_intent_model_dir, tmp_path_factory):
    """The demo model saved with its graph."""
    model = IntentModel.load(demo_intent_model_dir)
    return model.save(tmp_path_factory.mktemp("graph-model"), graph=True)


def test_the_graph_gives_the_torch_models_answers(graph_model_dir):
    model = IntentModel.load(graph_model_dir)
    fast = model.with_graph(graph_model_dir / GRAPH_FILE, threads=1)
    texts = [text for text, _, _ in read_csv_lines(SAMPLE)][:40]

    assert (model.runtime, fast.runtime) == ("torch", "onnx")
    assert np.allclose(model.predict_proba(texts), fast.predict_proba(texts), atol=1e-4)
    plain = [p.intent for p in model.predict(texts)]
    assert [p.intent for p in fast.predict(texts)] == plain
    assert [p.intent for p in fast.with_torch().predict(texts)] == plain


@pytest.fixture
def register(demo_shop, settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"

    def register(source):
        version = registry.register(
            kind="intent", source_dir=source, metrics={}, trained_on={}
        )
        registry.activate(version)
        cache.delete(f"ml:active:{version.kind}")
        serving.live_model.reset()
        return version

    yield register
    serving.live_model.reset()


def test_it_serves_the_graph_when_the_setting_asks_for_it(
    register, graph_model_dir, settings
):
    settings.INTENT_RUNTIME = "onnx"
    register(graph_model_dir)

    answer = serving.classify("my parcel never arrived, where is it?")
    assert answer is not None
    loaded = serving.live_model.get()
    assert loaded is not None and loaded[1].runtime == "onnx"


def test_a_model_without_a_graph_is_served_by_torch(
    register, demo_intent_model_dir, settings
):
    settings.INTENT_RUNTIME = "onnx"
    register(demo_intent_model_dir)

    assert serving.classify("hello there") is not None
    loaded = serving.live_model.get()
    assert loaded is not None and loaded[1].runtime == "torch"


def test_the_registry_hash_checks_a_graph_like_the_weights(
    register, graph_model_dir, tmp_path
):
    source = tmp_path / "with-graph"
    shutil.copytree(graph_model_dir, source)
    version = register(source)  # an .onnx file is an allowed artifact

    graph = registry.verified_path(version) / GRAPH_FILE
    graph.write_bytes(graph.read_bytes()[:-1] + b"\0")
    with pytest.raises(registry.ArtifactError, match="does not match"):
        registry.verified_path(version)
