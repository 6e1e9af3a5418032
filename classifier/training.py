"""Training the intent model on the database's examples, and registering it.

A new version is measured on a held-out split of the current examples, next to the
active version on the same split; it goes live only if it does no worse.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db.models import Count, Max

from classifier.models import OUT_OF_SCOPE, TrainingExample
from ml import registry
from ml.models import ModelVersion

HOLDOUT_FRACTION = 0.15
HOLDOUT_SEED = 20261129
# "Does no worse": macro-F1 may be lower by at most this (noise of a small split).
TOLERANCE = 0.005


class TrainingError(ValueError):
    """The examples can't train a model (e.g. fewer than two intents)."""


def holdout_split(
    examples: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A stratified, seeded split: (train, held out); small intents stay in train."""
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for example in examples:
        by_label[example[1]].append(example)
    rng = random.Random(HOLDOUT_SEED)
    train, held_out = [], []
    for label in sorted(by_label):
        rows = sorted(by_label[label])
        rng.shuffle(rows)
        n = int(len(rows) * HOLDOUT_FRACTION) if len(rows) >= 10 else 0
        held_out += rows[:n]
        train += rows[n:]
    return train, held_out


def score(model: Any, examples: list[tuple[str, str]]) -> dict[str, float]:
    """Accuracy and macro-F1 (and oos figures when there are oos rows)."""
    from classifier.evaluation import metrics

    texts = [text for text, _ in examples]
    gold = [label for _, label in examples]
    return metrics(gold, model.predict(texts))


def intent_model_train(
    *, progress: Callable[[int, int], None] | None = None, **options: Any
) -> ModelVersion:
    """Train on every example in the database and register a candidate version.

    Args:
        progress: ``progress(done, total)`` after each training step.
        **options: overrides of ``classifier.pipeline.TrainConfig``.

    Returns:
        The new candidate version, with its held-out metrics.

    Raises:
        TrainingError: the examples can't train a model.
    """
    from classifier.pipeline import train_intent_model

    examples = TrainingExample.objects.labelled()
    intents = {label for _, label in examples} - {OUT_OF_SCOPE}
    if len(intents) < 2:
        raise TrainingError(
            f"{len(intents)} intent(s) have examples; at least 2 are needed to train"
        )
    train, held_out = holdout_split(examples)
    texts, labels = zip(*train, strict=True)
    try:
        model = train_intent_model(
            list(texts), list(labels), progress=progress, **options
        )
    except ValueError as error:
        raise TrainingError(str(error)) from None
    metrics: dict[str, Any] = {
        **score(model, held_out),
        "n_train": len(train),
        "n_held_out": len(held_out),
    }
    metrics["train_seconds"] = model.info.get("train_seconds")
    with tempfile.TemporaryDirectory() as directory:
        model.save(Path(directory))
        return registry.register(
            kind=ModelVersion.Kind.INTENT,
            source_dir=Path(directory),
            metrics=metrics,
            trained_on=training_data_summary(),
        )


def training_data_summary() -> dict[str, Any]:
    examples = TrainingExample.objects.all()
    summary = examples.aggregate(n=Count("pk"), last_id=Max("pk"))
    summary["by_source"] = dict(
        Counter(dict(examples.values_list("source").annotate(n=Count("pk"))))
    )
    summary["intents"] = examples.values("intent").distinct().count()
    return summary


def active_metrics_on_same_split() -> dict[str, float] | None:
    """The active version's scores on today's held-out split (None if none)."""
    from classifier.serving import live_model

    loaded = live_model.get()
    if loaded is None:
        return None
    _, held_out = holdout_split(TrainingExample.objects.labelled())
    return score(loaded[1], held_out)


def promote_if_not_worse(candidate: ModelVersion, *, force: bool = False) -> bool:
    """Activate ``candidate`` unless it does worse than the active one; else reject.

    Returns:
        Whether the candidate is now active.
    """
    current = active_metrics_on_same_split()
    if (
        not force
        and current is not None
        and candidate.metrics["macro_f1"] < current["macro_f1"] - TOLERANCE
    ):
        candidate.metrics["compared_with_active"] = current
        candidate.save(update_fields=["metrics"])
        registry.reject(candidate)
        return False
    if current is not None:
        candidate.metrics["compared_with_active"] = current
        candidate.save(update_fields=["metrics"])
    registry.activate(candidate)
    return True
