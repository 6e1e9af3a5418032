"""The benchmarks' plots: a confusion matrix and a reliability diagram (matplotlib)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from classifier.metrics import expected_calibration_error


def _pyplot() -> Any:
    """pyplot on the Agg backend (files only, no display)."""
    # The backend must be chosen before pyplot is first imported.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(gold: list[str], pred: list[str], out: Path, title: str) -> None:
    plt = _pyplot()
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
    plt = _pyplot()
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
