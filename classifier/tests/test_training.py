"""Unit tests of the intent model and its training (tiny data, real encoder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifier.model import OOS_LABEL, IntentModel, Prediction, TrainConfig
from classifier.training import (
    _fit_temperature,
    _stratified_split,
    fit_intent_model,
)
from ml.encoder import Encoder, get_encoder

TRAIN = {
    "track_order": [
        "where is my order",
        "track my package please",
        "when will my parcel arrive",
        "has my order shipped yet",
        "what is the status of my delivery",
        "my package has not arrived",
        "can you tell me where my shipment is",
        "how long until my order gets here",
    ],
    "refund": [
        "i want my money back",
        "how do i get a refund",
        "please refund my purchase",
        "can i return this for a refund",
        "i would like to be reimbursed",
        "refund the item i bought",
        "give me back what i paid",
        "i want to cancel and get refunded",
    ],
    "opening_hours": [
        "when are you open",
        "what are your opening hours",
        "are you open on sunday",
        "what time do you close today",
        "what time does the shop open",
        "is the store open on holidays",
        "until when are you open tonight",
        "business hours please",
    ],
}
OOS = [
    "what is the capital of peru",
    "tell me a joke about penguins",
    "how tall is mount everest",
    "who won the football world cup",
    "what is the square root of 81",
    "play some jazz music",
]
VAL = {
    "track_order": ["where's my parcel", "is my order on the way"],
    "refund": ["i need a refund", "return it and pay me back"],
    "opening_hours": ["what hours are you open", "are you open tomorrow morning"],
    OOS_LABEL: ["what is the weather on mars", "recommend a good novel to read"],
}

FAST: dict[str, Any] = {"finetune_epochs": 0, "head_epochs": 30}


def _pairs(data: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    texts = [t for texts in data.values() for t in texts]
    labels = [label for label, texts in data.items() for _ in texts]
    return texts, labels


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The real shared encoder, loaded once for the whole session."""
    return get_encoder()


@pytest.fixture(scope="session")
def frozen_model(encoder: Encoder) -> IntentModel:
    texts, labels = _pairs(TRAIN)
    texts += OOS
    labels += [OOS_LABEL] * len(OOS)
    val_texts, val_labels = _pairs(VAL)
    return fit_intent_model(
        texts, labels, val_texts=val_texts, val_labels=val_labels, seed=0, **FAST
    )


def test_it_embeds_to_normalized_float32_and_caches(encoder: Encoder) -> None:
    vectors = encoder.encode(["hello there", "where is my order", "hello there"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    # A cache hit must return the same vector the model computes.
    np.testing.assert_allclose(
        encoder.encode(["hello there"])[0],
        encoder.encode_uncached(["hello there"])[0],
        atol=1e-6,
    )
    assert get_encoder() is encoder


def test_it_classifies_unseen_phrasings(frozen_model: IntentModel) -> None:
    predictions = frozen_model.predict(
        ["where is my parcel right now", "i demand a refund", "are you open saturday"]
    )
    assert [p.intent for p in predictions] == ["track_order", "refund", "opening_hours"]
    assert not any(p.out_of_scope for p in predictions)


def test_it_returns_sorted_calibrated_top_k(frozen_model: IntentModel) -> None:
    (prediction,) = frozen_model.predict(["refund please"], top_k=3)
    assert isinstance(prediction, Prediction)
    probs = [p for _, p in prediction.top_k]
    assert len(prediction.top_k) == 3
    assert probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert sum(probs) <= 1.0 + 1e-5
    assert prediction.confidence == pytest.approx(probs[0])
    assert {i for i, _ in prediction.top_k} == set(TRAIN)
    assert frozen_model.ensemble_size == 1
    assert frozen_model.calibration.temperatures[0] > 0


def test_it_flags_out_of_scope_messages(frozen_model: IntentModel) -> None:
    assert frozen_model.calibration.threshold > 0
    (prediction,) = frozen_model.predict(["what is the boiling point of mercury"])
    assert prediction.out_of_scope
    assert prediction.intent == OOS_LABEL
    # The in-scope candidates stay available for "did you mean ...?".
    assert prediction.top_k[0][0] in TRAIN
    assert OOS_LABEL not in frozen_model.intents


def test_it_returns_nothing_for_no_messages(frozen_model: IntentModel) -> None:
    assert frozen_model.predict([]) == []
    with pytest.raises(TypeError):
        frozen_model.predict("a single string")


def test_it_round_trips_a_frozen_model(
    frozen_model: IntentModel, tmp_path: Path
) -> None:
    frozen_model.save(tmp_path)
    names = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert names == {"config.json", "model.safetensors", "manifest.json"}
    loaded = IntentModel.load(tmp_path)
    texts = ["where is my order", "tell me a joke"]
    np.testing.assert_allclose(
        loaded.predict_proba(texts), frozen_model.predict_proba(texts), atol=1e-5
    )
    assert loaded.predict(texts) == frozen_model.predict(texts)
    assert loaded.calibration == frozen_model.calibration


def test_it_rejects_a_tampered_artifact(
    frozen_model: IntentModel, tmp_path: Path
) -> None:
    frozen_model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["calibration"]["threshold"] = 0.0
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="manifest"):
        IntentModel.load(tmp_path)


def test_it_fine_tunes_an_ensemble_and_saves_every_member(
    encoder: Encoder, tmp_path: Path
) -> None:
    texts, labels = _pairs(TRAIN)
    before = encoder.encode_uncached(["where is my order"])
    calls: list[tuple[int, int]] = []
    model = fit_intent_model(
        texts,
        labels,
        seed=1,
        finetune_epochs=1,
        ensemble_size=2,
        batch_size=8,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert model.finetuned
    assert model.ensemble_size == 2
    assert model.info["members"] == 2
    # Each member held out its own split (seeds 1 and 2), so together they trained
    # on more of the data, and calibration scored every row some member never saw.
    held_out = [set(_stratified_split(labels, fraction=0.1, seed=s)[1]) for s in (1, 2)]
    assert held_out[0] != held_out[1]
    assert model.info["n_val"] == len(held_out[0] | held_out[1])
    # Two seeds, two different networks; the model serves their average.
    first, second = model.member_logits(texts[:4])
    assert not np.allclose(first, second)
    scaled = [
        np.exp(z / t) / np.exp(z / t).sum(axis=1, keepdims=True)
        for z, t in zip((first, second), model.calibration.temperatures, strict=True)
    ]
    np.testing.assert_allclose(
        model.predict_proba(texts[:4]), np.mean(scaled, axis=0), atol=1e-5
    )
    # Fine-tuning works on a copy: the shared encoder other apps use is unchanged.
    np.testing.assert_allclose(
        encoder.encode_uncached(["where is my order"]), before, atol=1e-6
    )
    assert calls and calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)

    model.save(tmp_path)
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    assert {"encoders/0/model.safetensors", "encoders/1/model.safetensors"} <= files
    assert not any(f.endswith((".bin", ".pt", ".pkl", ".pth")) for f in files)
    loaded = IntentModel.load(tmp_path)
    np.testing.assert_allclose(
        loaded.predict_proba(texts[:4]), model.predict_proba(texts[:4]), atol=1e-5
    )


def test_it_carves_a_deterministic_stratified_validation_split() -> None:
    labels = ["a"] * 10 + ["b"] * 10 + ["c"]
    train, val = _stratified_split(labels, fraction=0.2, seed=3)
    again_train, again_val = _stratified_split(labels, fraction=0.2, seed=3)
    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert sorted(labels[i] for i in val) == ["a", "a", "b", "b"]
    # The single "c" example must stay in training.
    assert 20 in train
    assert set(train) | set(val) == set(range(21))


def test_it_fits_a_temperature_that_softens_overconfident_logits() -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, size=300)
    logits = rng.normal(size=(300, 3))
    logits[np.arange(300), targets] += 1.0
    assert _fit_temperature(logits * 10, targets) > 3.0


def test_it_applies_keyword_overrides_and_rejects_unknown_ones(
    encoder: Encoder,
) -> None:
    texts, labels = _pairs(TRAIN)
    with pytest.raises(TypeError, match="no_such_option"):
        fit_intent_model(texts, labels, no_such_option=1)
    with pytest.raises(ValueError, match="ensemble_size must be at least 1"):
        fit_intent_model(texts, labels, ensemble_size=0)
    model = fit_intent_model(
        texts, labels, config=TrainConfig(head_epochs=5), finetune_epochs=0
    )
    assert model.config.head_epochs == 5
    assert not model.finetuned


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        ([], [], "no examples"),
        (["hi", "hello"], ["greet", "greet"], "at least 2"),
        (["hi", "bye"], ["greet"], "pair up"),
        (["hi", "  "], ["greet", "bye"], "empty text"),
        (["hi", "bye"], ["greet", ""], "empty label"),
        (["hi", "what is pi"], ["greet", OOS_LABEL], "at least 2"),
    ],
)
def test_it_rejects_bad_training_data(
    texts: list[str], labels: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_intent_model(texts, labels, **FAST)


def test_it_rejects_validation_intents_never_trained(encoder: Encoder) -> None:
    texts, labels = _pairs(TRAIN)
    with pytest.raises(ValueError, match="never shows"):
        fit_intent_model(
            texts, labels, val_texts=["hi"], val_labels=["greeting"], **FAST
        )
    with pytest.raises(ValueError, match="both"):
        fit_intent_model(texts, labels, val_texts=["hi"], **FAST)


def test_a_time_budget_cuts_every_member_short_but_still_trains_them_all(
    encoder: Encoder,
) -> None:
    texts, labels = _pairs(TRAIN)
    steps: list[int] = []
    model = fit_intent_model(
        texts,
        labels,
        finetune_epochs=500,
        ensemble_size=2,
        batch_size=4,
        # Long enough for a few steps each on a busy machine (where loading the
        # first member's encoder alone can take seconds of the shared budget), far
        # too short for 6,000.
        time_budget_s=12.0,
        progress=lambda done, total: steps.append(total),
    )
    # 500 epochs of 6 batches for each of 2 members would be 6,000 steps.
    assert model.info["stopped_early"]
    assert model.info["steps"] < steps[0] - 1
    # The first member left the second its share of the budget.
    first, second = model.info["member_steps"]
    assert first > 1 and second > 1
    assert first + second == model.info["steps"]
    assert model.ensemble_size == 2
    assert len(model.predict(["where is my order"])) == 1
