"""Measuring an intent model: metrics, plots, and ``evaluate_intents``' whole run.

Metrics as in Larson et al. 2019 (see ../shared/data/README.md): *in-scope
accuracy* counts an in-scope row predicted ``oos`` as wrong; *oos recall* is the
share of ``oos`` rows flagged; both at the one operating point chosen on
validation data, never on the test file.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifier.datasets import DatasetError, read_csv_lines
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
        predictions: ``classifier.pipeline.Prediction`` objects, in the same order.

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


def plot_confusion(gold: list[str], pred: list[str], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(gold) | set(pred))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for g, p in zip(gold, pred, strict=True):
        matrix[index[g], index[p]] += 1
    # Row-normalised so that rare intents are as visible as frequent ones.
    rows = matrix.sum(axis=1, keepdims=True).clip(min=1)
    size = min(4 + 0.12 * len(labels), 24)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix / rows, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(len(labels))
    fontsize = max(3, 9 - len(labels) // 25)
    ax.set_xticks(ticks, labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, labels, fontsize=fontsize)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_reliability(
    confidence: np.ndarray, correct: np.ndarray, out: Path, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centers, accuracies, counts = [], [], []
    for low, high in itertools.pairwise(np.linspace(0, 1, 16)):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            centers.append(confidence[mask].mean())
            accuracies.append(correct[mask].mean())
            counts.append(int(mask.sum()))
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.plot(centers, accuracies, "o-", label="model")
    for x, y, n in zip(centers, accuracies, counts, strict=True):
        ax.annotate(
            str(n), (x, y), fontsize=6, textcoords="offset points", xytext=(3, -8)
        )
    ax.set_xlabel("confidence (top in-scope intent)")
    ax.set_ylabel("accuracy")
    ece = expected_calibration_error(confidence, correct)
    ax.set_title(f"{title}\nECE {ece:.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _check_labels(
    train_csv: Path, known: set[str], other_csv: Path, rows: list[tuple[str, str, int]]
) -> None:
    if len(known - {OUT_OF_SCOPE}) < 2:
        raise DatasetError(
            f"{train_csv}: {len(known - {OUT_OF_SCOPE})} in-scope intent(s); at least "
            "2 are needed to train"
        )
    for _, label, line in rows:
        # An oos row needs no oos training rows: detecting it is the point.
        if label != OUT_OF_SCOPE and label not in known:
            raise DatasetError(
                f"{other_csv}:{line}: intent {label!r} never appears in {train_csv}"
            )


def evaluate(
    *,
    train_csv: Path,
    test_csv: Path,
    val_csv: Path | None,
    out_json: Path,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    latency_samples: int = 200,
    **train_options: Any,
) -> dict[str, Any]:
    """Train a fresh model on ``train_csv``, measure it on ``test_csv``.

    Never touches the registry. Writes ``out_json`` and, next to it,
    ``<name>.confusion.png`` and ``<name>.reliability.png``.

    Args:
        train_csv: training data (``text,intent``; ``oos`` = out of scope).
        test_csv: test data, only measured on.
        val_csv: validation data for calibration and the operating point; when
            ``None`` a seeded split of the training data is carved.
        out_json: where the metrics go.
        seed: training seed.
        progress: ``progress(done, total)`` per training step.
        latency_samples: test messages timed one at a time.
        **train_options: ``classifier.pipeline.TrainConfig`` overrides.

    Returns:
        The metrics written.

    Raises:
        DatasetError: a bad input file (naming the file and line).
    """
    from classifier.pipeline import train_intent_model

    train = read_csv_lines(train_csv)
    test = read_csv_lines(test_csv)
    known = {label for _, label, _ in train}
    _check_labels(train_csv, known, test_csv, test)
    val = None
    if val_csv is not None:
        val = read_csv_lines(val_csv)
        _check_labels(train_csv, known, val_csv, val)

    started, cpu_started = time.perf_counter(), time.process_time()
    model = train_intent_model(
        [t for t, _, _ in train],
        [label for _, label, _ in train],
        val_texts=[t for t, _, _ in val] if val else None,
        val_labels=[label for _, label, _ in val] if val else None,
        seed=seed,
        progress=progress,
        **train_options,
    )
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - cpu_started

    texts = [t for t, _, _ in test]
    gold = [label for _, label, _ in test]
    predictions = model.predict(texts)
    rng = np.random.default_rng(seed)
    sample = rng.choice(
        len(texts), size=min(latency_samples, len(texts)), replace=False
    )
    model.predict([texts[int(sample[0])]])  # warm-up
    latencies = []
    for i in sample:
        t0 = time.perf_counter()
        model.predict([texts[int(i)]])
        latencies.append((time.perf_counter() - t0) * 1000)

    import torch

    result: dict[str, Any] = {
        "train_csv": str(train_csv),
        "test_csv": str(test_csv),
        "val_csv": str(val_csv) if val_csv else None,
        "n_train": len(train),
        "n_test": len(test),
        "n_intents": len(model.intents),
        **metrics(gold, predictions),
        "train_seconds": round(train_seconds, 1),
        # Wall time depends on what else runs; CPU time and load show how much.
        "train_cpu_seconds": round(train_cpu_seconds, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "predict_ms_p50": round(statistics.median(latencies), 2),
        "predict_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "ensemble_size": model.ensemble_size,
        "temperatures": model.calibration.temperatures,
        "oos_threshold": model.calibration.threshold,
        "val_metrics": model.calibration.val_metrics,
        "finetuned_encoder": model.finetuned,
        "train_info": model.info,
        "seed": seed,
        "torch_threads": int(torch.get_num_threads()),
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    stem = out_json.with_suffix("")
    pred = [p.intent for p in predictions]
    plot_confusion(gold, pred, Path(f"{stem}.confusion.png"), out_json.stem)
    labels = np.array(gold)
    in_scope = labels != OUT_OF_SCOPE
    plot_reliability(
        np.array([p.confidence for p in predictions])[in_scope],
        (np.array([p.top_k[0][0] for p in predictions]) == labels)[in_scope],
        Path(f"{stem}.reliability.png"),
        out_json.stem,
    )
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    return result
