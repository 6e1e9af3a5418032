"""``classify(text)``: the active intent model, as every process sees it now."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from classifier.model import IntentModel
from classifier.normalise import for_the_model
from ml.models import ModelVersion
from ml.registry import LiveModel


@dataclass(frozen=True)
class Classification:
    intent: str  # "oos" when out of scope
    confidence: float
    top_k: list[tuple[str, float]]
    out_of_scope: bool
    model_version_id: int
    model_version: str


def _load(path: Path) -> IntentModel:
    return IntentModel.load(path)


live_model: LiveModel[IntentModel] = LiveModel(ModelVersion.Kind.INTENT, _load)


def classify(text: str) -> Classification | None:
    """Classify one message; ``None`` while no intent model is active.

    The model reads the message without markup, links, emoji and repeated
    punctuation (``classifier.normalise``).
    """
    loaded = live_model.get()
    if loaded is None:
        return None
    version, model = loaded
    prediction = model.predict([for_the_model(text)])[0]
    return Classification(
        intent="oos" if prediction.out_of_scope else prediction.intent,
        confidence=float(prediction.confidence),
        top_k=[(name, float(p)) for name, p in prediction.top_k],
        out_of_scope=bool(prediction.out_of_scope),
        model_version_id=version.pk,
        model_version=f"v{version.version}",
    )


def classify_many(texts: list[str]) -> list[Classification] | None:
    """Classify several messages (the clauses of one) in one call of the model;
    ``None`` while no intent model is active."""
    loaded = live_model.get()
    if loaded is None:
        return None
    version, model = loaded
    predictions = model.predict([for_the_model(text) for text in texts])
    return [
        Classification(
            intent="oos" if p.out_of_scope else p.intent,
            confidence=float(p.confidence),
            top_k=[(name, float(score)) for name, score in p.top_k],
            out_of_scope=bool(p.out_of_scope),
            model_version_id=version.pk,
            model_version=f"v{version.version}",
        )
        for p in predictions
    ]
