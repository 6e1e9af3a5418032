"""``classify(text)``: the intent model this process serves.

The model is swapped in the background when another version goes live
(``ml.hotswap``); a classification never waits for a load.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from classifier.model import GRAPH_FILE, OOS_LABEL, IntentModel
from classifier.normalise import for_the_model
from ml.hotswap import HotModel
from ml.models import ModelVersion
from ml.torch_utils import thread_limit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Classification:
    intent: str  # "oos" when out of scope
    confidence: float
    top_k: list[tuple[str, float]]
    out_of_scope: bool
    model_version_id: int
    model_version: str
    # The best classes over all of them, out of scope included, best first.
    ranking: list[tuple[str, float]] = field(default_factory=list)
    # 1 - (best - runner-up) over ``ranking``: 0 when sure, 1 when torn; a message
    # the model is sure is out of scope is not uncertain.
    uncertainty: float = 0.0
    # How the model that answered was loaded (``ml.hotswap.Served.loaded_in``).
    loaded_in: str = ""


def _load(path: Path) -> IntentModel:
    # The registry hashed every byte of ``path`` just now: once is enough.
    return with_runtime(IntentModel.load(path, check_manifest=False), path)


def with_runtime(model: IntentModel, path: Path) -> IntentModel:
    """``model`` on the runtime ``settings.INTENT_RUNTIME`` names, where its artifact
    has what that runtime needs (the ONNX graph); on torch otherwise."""
    if settings.INTENT_RUNTIME != "onnx":
        return model
    graph = path / GRAPH_FILE
    if not graph.is_file():
        logger.warning(
            "INTENT_RUNTIME=onnx, but %s has no graph: torch serves it", path
        )
        return model
    return model.with_graph(graph, threads=thread_limit() or settings.TORCH_THREADS)


def _probe(model: IntentModel) -> object:
    return model.predict(["where is my order"])


live_model: HotModel[IntentModel] = HotModel(ModelVersion.Kind.INTENT, _load, _probe)


def warm() -> None:
    """Load the active intent model now (process start), not on the first message."""
    live_model.warm()


def ranked(
    top_k: list[tuple[str, float]], oos_probability: float
) -> list[tuple[str, float]]:
    """The best three classes, the out-of-scope class among them."""
    classes = [*top_k, (OOS_LABEL, oos_probability)]
    return sorted(classes, key=lambda item: -item[1])[:3]


def uncertainty(ranking: list[tuple[str, float]]) -> float:
    if len(ranking) < 2:
        return 0.0
    return max(0.0, min(1.0, 1.0 - (ranking[0][1] - ranking[1][1])))


def classify(text: str) -> Classification | None:
    """Classify one message; ``None`` while no intent model is active.

    The model reads the message without markup, links, emoji and repeated
    punctuation (``classifier.normalise``).
    """
    readings = classify_many([text])
    return readings[0] if readings is not None else None


def classify_many(texts: list[str]) -> list[Classification] | None:
    """Classify several messages (the clauses of one) in one call of the model;
    ``None`` while no intent model is active."""
    served = live_model.served()
    if served is None:
        return None
    predictions = served.model.predict([for_the_model(text) for text in texts])
    readings = []
    for prediction in predictions:
        top_k = [(name, float(p)) for name, p in prediction.top_k]
        ranking = ranked(top_k, float(prediction.oos_probability))
        readings.append(
            Classification(
                intent="oos" if prediction.out_of_scope else prediction.intent,
                confidence=float(prediction.confidence),
                top_k=top_k,
                out_of_scope=bool(prediction.out_of_scope),
                model_version_id=served.version.pk,
                model_version=f"v{served.version.version}",
                ranking=ranking,
                uncertainty=uncertainty(ranking),
                loaded_in=served.loaded_in,
            )
        )
    return readings


def loaded_version() -> ModelVersion | None:
    """The version this process holds in memory now, without loading one."""
    served = live_model.current()
    return served.version if served is not None else None
