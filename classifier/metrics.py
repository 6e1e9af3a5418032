"""Measuring an intent model: what training and the benchmarks both report.

Metrics as in Larson et al. 2019 (see ../shared/data/README.md): *in-scope
accuracy* counts an in-scope row predicted ``oos`` as wrong; *oos recall* is the
share of ``oos`` rows flagged; both at the one operating point chosen on
validation data, never on the test file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from classifier.models import OUT_OF_SCOPE


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    g, p = np.array(gold), np.array(pred)
    scores = []
    for label in sorted(set(gold)):
        tp = float(((g == label) & (p == label)).sum())
        fp = float(((g != label) & (p == label)).sum())
        fn = float(((g == label) & (p != label)).sum())
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    total = 0.0
    for low, high in itertools.pairwise(np.linspace(0, 1, bins + 1)):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def metrics(gold: Sequence[str], predictions: Sequence[Any]) -> dict[str, float]:
    """Accuracy, macro-F1, calibration error, and oos figures when gold has oos.

    Args:
        gold: the true labels (``oos`` for out of scope).
        predictions: ``classifier.model.Prediction`` objects, in the same order.

    Returns:
        ``accuracy``, ``macro_f1``, ``ece_top1``, and with oos rows
        ``in_scope_accuracy``, ``oos_recall``, ``oos_precision``.
    """
    labels = np.array(gold)
    predicted = np.array([p.intent for p in predictions])
    top1 = np.array([p.top_k[0][0] for p in predictions])
    flagged = np.array([p.out_of_scope for p in predictions])
    confidence = np.array([p.confidence for p in predictions])
    is_oos = labels == OUT_OF_SCOPE
    in_scope = ~is_oos
    result = {
        "accuracy": float((predicted == labels).mean()),
        "macro_f1": macro_f1(list(labels), list(predicted)),
        # Comparable with published figures: argmax over intents, no rejection.
        "top1_accuracy": float((top1 == labels)[in_scope].mean())
        if in_scope.any()
        else 0.0,
        "ece_top1": expected_calibration_error(
            confidence[in_scope], (top1 == labels)[in_scope]
        ),
    }
    if is_oos.any():
        result["in_scope_accuracy"] = float((predicted == labels)[in_scope].mean())
        result["oos_recall"] = float(flagged[is_oos].mean())
        result["oos_precision"] = (
            float(is_oos[flagged].mean()) if flagged.any() else 0.0
        )
    return result
