"""The recommender model on its own: training, ranking, reasons, cold start, files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recommender.model import RecommenderModel, TrainConfig
from recommender.tests.conftest import GROUPS, chain_sequences, group_vectors
from recommender.training import fit_recommender, sequences_from_triples

PER_GROUP = 6
FAST = TrainConfig(
    dim=32, layers=1, heads=1, dropout=0.1, lr=0.01, epochs=40, patience=100,
    time_budget_s=60, id_dropout=0.1, threads=1,
)  # fmt: skip


def items() -> list[str]:
    return [f"{g}-{i}" for g in GROUPS for i in range(PER_GROUP)]


@pytest.fixture(scope="module")
def world() -> tuple[dict[str, list[str]], dict[str, str], np.ndarray]:
    texts = {item: f"a {item.split('-')[0]}" for item in items()}
    return chain_sequences(PER_GROUP, 90), texts, group_vectors(PER_GROUP)


@pytest.fixture(scope="module")
def model(world) -> RecommenderModel:
    sequences, texts, vectors = world
    return fit_recommender(
        sequences, item_texts=texts, item_vectors=vectors, config=FAST
    )


def test_it_learns_what_comes_next(model):
    top = model.recommend(["jacket-1", "jacket-2"], k=2)
    assert top[0][0] == "jacket-3"
    assert all(item.startswith("jacket") for item, _, _ in top)


def test_it_never_recommends_the_history_or_the_excluded(model):
    history = ["shoe-0", "shoe-1"]
    found = [item for item, _, _ in model.recommend(history, k=10, exclude=["shoe-2"])]
    assert not {"shoe-0", "shoe-1", "shoe-2"} & set(found)
    assert len(found) == 10


def test_it_explains_with_an_item_from_the_history(model):
    _, score, reason = model.recommend(["mug-0", "mug-1"], k=1)[0]
    assert reason[0] in {"bought_with", "similar_to"}
    assert reason[1] in {"mug-0", "mug-1"}
    assert isinstance(score, float)


def test_a_new_customer_gets_the_popular_items(model, world):
    sequences, _, _ = world
    counts: dict[str, int] = {}
    for sequence in sequences.values():
        for item in sequence:
            counts[item] = counts.get(item, 0) + 1
    top = model.recommend([], k=3)
    assert [reason for _, _, reason in top] == [("popular", None)] * 3
    assert top[0][0] == max(counts, key=lambda item: counts[item])


def test_an_unknown_history_item_is_ignored(model):
    assert model.recommend(["no-such-item"], k=2)[0][2] == ("popular", None)


def test_a_new_item_is_ranked_by_its_text(world):
    sequences, texts, vectors = world
    texts = {**texts, "jacket-new": "a jacket"}
    # The new jacket's text embedding is the same as jacket-4's; nobody bought it.
    vectors = np.vstack([vectors, vectors[4]])
    config = TrainConfig(**{**FAST.__dict__, "content_weight": 8.0})
    model = fit_recommender(
        sequences, item_texts=texts, item_vectors=vectors, config=config
    )
    assert not model.is_warm("jacket-new") and model.is_warm("jacket-4")
    found = {
        item: reason
        for item, _, reason in model.recommend(["jacket-1", "jacket-2"], k=4)
    }
    assert "jacket-new" in found
    assert found["jacket-new"][0] in {"similar_to", "content"}


def test_validation_picks_the_best_epoch_and_the_content_blend(world):
    sequences, texts, vectors = world
    train_part = {u: s[:-1] for u, s in sequences.items()}
    validation = [(s[:-1], s[-1]) for s in sequences.values()]
    config = TrainConfig(**{**FAST.__dict__, "epochs": 6, "patience": 2})
    model = fit_recommender(
        train_part,
        item_texts=texts,
        item_vectors=vectors,
        validation=validation,
        config=config,
    )
    assert 1 <= model.meta["best_epoch"] <= model.meta["epochs"] <= 6
    assert model.meta["valid_ndcg@10"] == max(model.meta["valid_curve"])
    assert model.config.content_weight in {0.0, 1.0, 2.0, 4.0, 8.0, 16.0}


def test_it_saves_config_json_and_safetensors_and_loads_the_same_model(model, tmp_path):
    model.save(tmp_path / "artifact")
    assert sorted(p.name for p in (tmp_path / "artifact").iterdir()) == [
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((tmp_path / "artifact" / "config.json").read_text())
    assert config["item_ids"] == model.item_ids
    loaded = RecommenderModel.load(tmp_path / "artifact")
    history = [model.index["shoe-1"], model.index["shoe-2"]]
    assert np.allclose(loaded.scores([history]), model.scores([history]), atol=1e-5)
    assert loaded.recommend(["shoe-1"], k=3) == model.recommend(["shoe-1"], k=3)


def test_it_trains_from_interaction_triples_and_without_texts():
    triples = [("u1", "b", 2), ("u1", "a", 1), ("u2", "a", 0), ("u2", "b", 5)]
    assert sequences_from_triples(triples) == {"u1": ["a", "b"], "u2": ["a", "b"]}
    config = TrainConfig(**{**FAST.__dict__, "epochs": 2})
    model = fit_recommender(triples, config=config)
    assert model.item_ids == ["a", "b"]
    assert model.content is None
    assert [item for item, _, _ in model.recommend(["a"], k=5)] == ["b"]
