"""The intent benchmark: ``evaluate_intents``' whole run on labelled CSV files.

Trains a fresh model with the production training code, measures it on a test file
with :mod:`classifier.metrics` and draws :mod:`benchmarks.plots`; never touches the
registry.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.plots import plot_confusion, plot_reliability
from classifier.datasets import DatasetError, read_csv_lines
from classifier.metrics import metrics
from classifier.models import OUT_OF_SCOPE
from classifier.training import fit_intent_model


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
        **train_options: ``classifier.model.TrainConfig`` overrides.

    Returns:
        The metrics written.

    Raises:
        DatasetError: a bad input file (naming the file and line).
    """
    train = read_csv_lines(train_csv)
    test = read_csv_lines(test_csv)
    known = {label for _, label, _ in train}
    _check_labels(train_csv, known, test_csv, test)
    val = None
    if val_csv is not None:
        val = read_csv_lines(val_csv)
        _check_labels(train_csv, known, val_csv, val)

    started, cpu_started = time.perf_counter(), time.process_time()
    model = fit_intent_model(
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
        # Encoder forward passes per message of the model as served.
        "encoder_passes": model.encoder_passes,
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
