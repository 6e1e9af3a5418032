"""The classifier against its compute floor: ``bench_encoder``'s whole run.

In one run, on this machine as it is now:

* the fp32 matrix-multiply peak at the serving thread count (``torch.matmul`` of
  square matrices, best of several), the roof everything else is measured against;
* the served classifier's latency for one message, from text to intent (p50/p95);
* its throughput on batches of messages;
* ``latency_over_floor``: p50 ÷ the time one encoder pass over the message would
  take at the peak; ``roofline_efficiency``: the useful FLOP/s of the batched run ÷
  the peak (useful: padding does not count);
* its accuracy on a labelled sample, for every path measured, so that a faster
  path is checked against the plain one.

FLOPs of one transformer pass over ``L`` tokens, from the model's config (layers
``N``, hidden ``h``, intermediate ``i``): ``N · (2L(4h² + 2hi) + 4L²h)`` — the
Q/K/V/output projections, the two feed-forward matrices and the two attention
products. Embeddings, layer norms, softmax and the head are left out (a few per
cent), so the floor is a little below the true one, never above.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.datasets import read_csv_lines
from classifier.model import IntentModel
from classifier.normalise import for_the_model
from ml.torch_utils import Progress, no_progress, torch_threads

SAMPLE = Path(__file__).resolve().parent / "data" / "shop_intents_sample.csv"


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs (the defaults suit a quiet 2-core machine)."""

    matmul_n: int = 1024
    matmul_repeats: int = 20
    warmup: int = 10
    single_runs: int = 200
    batch_size: int = 32
    batched_messages: int = 512


TINY = Settings(
    matmul_n=128,
    matmul_repeats=2,
    warmup=1,
    single_runs=5,
    batch_size=4,
    batched_messages=8,
)

# A path from text to intent: a batch of texts in, their intents out.
Predict = Callable[[Sequence[str]], list[str]]


def torch_path(model: IntentModel) -> Predict:
    """The classifier as ``classifier.serving.classify`` runs it (on the runtime
    ``model`` holds)."""

    def predict(texts: Sequence[str]) -> list[str]:
        return [p.intent for p in model.predict([for_the_model(t) for t in texts])]

    return predict


def paths_for(
    model: IntentModel, *, threads: int, graph_dir: Path | None
) -> tuple[dict[str, Predict], str]:
    """The paths to measure for ``model``, the plain one first; and the served one.

    Args:
        model: the served model (on whichever runtime it is served).
        threads: onnxruntime's intra-op threads.
        graph_dir: where to export the ONNX graph; ``None`` measures torch only.

    Returns:
        The paths by name, and the name of the one the model is served on.
    """
    paths = {"torch": torch_path(model.with_torch())}
    if graph_dir is not None:
        graph = model.export_graph(graph_dir / "intent.onnx")
        paths["onnx"] = torch_path(model.with_graph(graph, threads=threads))
    return paths, model.runtime


def pass_flops(*, layers: int, hidden: int, intermediate: int, tokens: int) -> float:
    """FLOPs of one encoder pass over ``tokens`` tokens (see the module docstring)."""
    per_layer = 2 * tokens * (4 * hidden**2 + 2 * hidden * intermediate)
    per_layer += 4 * tokens**2 * hidden
    return float(layers * per_layer)


def matmul_peak_gflops(*, n: int, repeats: int) -> float:
    """The best fp32 GFLOP/s of square matrix products at torch's thread count."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator)
    b = torch.randn(n, n, generator=generator)
    torch.matmul(a, b)  # warm-up: thread pool and caches
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best / 1e9


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def measure_path(
    predict: Predict,
    *,
    texts: list[str],
    gold: list[str],
    flops: list[float],
    floor_ms: float,
    peak_gflops: float,
    settings: Settings,
    progress: Progress,
    name: str,
) -> dict[str, Any]:
    """Latency, throughput and accuracy of one path on the sample.

    Args:
        predict: the path.
        texts: the sample's messages.
        gold: their intents.
        flops: the FLOPs the served model spends on each message (all its passes).
        floor_ms: one pass over the sample's median message at the peak.
        peak_gflops: the machine's peak, measured in the same run.
        settings: how long to measure.
        progress: wraps the loops.
        name: the path's name, for the progress bar.

    Returns:
        The path's figures.
    """
    for i in range(settings.warmup):
        predict([texts[i % len(texts)]])
    latencies = []
    for i in progress(range(settings.single_runs), f"{name}: one message", None):
        text = texts[i % len(texts)]
        started = time.perf_counter()
        predict([text])
        latencies.append((time.perf_counter() - started) * 1000)

    batch = settings.batch_size
    n_batches = max(1, settings.batched_messages // batch)
    order = [i % len(texts) for i in range(n_batches * batch)]
    batches = [order[k * batch : (k + 1) * batch] for k in range(n_batches)]
    spent = 0.0
    done_flops = 0.0
    for indices in progress(batches, f"{name}: batches of {batch}", len(batches)):
        chunk = [texts[i] for i in indices]
        started = time.perf_counter()
        predict(chunk)
        spent += time.perf_counter() - started
        done_flops += sum(flops[i] for i in indices)

    predicted: list[str] = []
    for start in progress(range(0, len(texts), batch), f"{name}: accuracy", None):
        predicted += predict(texts[start : start + batch])
    correct = sum(p == g for p, g in zip(predicted, gold, strict=True))

    p50 = statistics.median(latencies)
    batched_gflops = done_flops / spent / 1e9
    return {
        "p50_ms": round(p50, 3),
        "p95_ms": round(_percentile(latencies, 95), 3),
        "latency_over_floor": round(p50 / floor_ms, 3),
        "batched_messages_per_s": round(len(order) / spent, 1),
        "batched_gflops": round(batched_gflops, 2),
        "roofline_efficiency": round(batched_gflops / peak_gflops, 4),
        "accuracy": round(correct / len(texts), 4),
    }


def benchmark(
    model: IntentModel,
    *,
    paths: dict[str, Predict],
    served: str,
    sample: Path = SAMPLE,
    threads: int,
    settings: Settings = Settings(),
    progress: Progress = no_progress,
    model_version: str = "",
) -> dict[str, Any]:
    """Measure every path of one intent model against this machine's peak.

    Args:
        model: the intent model (its config gives the FLOPs of one pass).
        paths: the paths from text to intent to measure, by name.
        served: the name of the path the serving processes run.
        sample: a ``text,intent`` CSV file.
        threads: torch's intra-op threads for every measurement (the serving cap).
        settings: how long to measure.
        progress: wraps the loops.
        model_version: what to call the model in the results.

    Returns:
        The figures, for the JSON file.
    """
    rows = read_csv_lines(sample)
    if not rows:
        raise ValueError(f"{sample}: no labelled messages")
    texts = [text for text, _, _ in rows]
    gold = [label for _, label, _ in rows]
    shape = model.encoder_shape()
    passes = model.encoder_passes
    tokens = model.token_counts([for_the_model(t) for t in texts])

    def flops_of(n: int) -> float:
        return pass_flops(
            layers=shape["layers"],
            hidden=shape["hidden"],
            intermediate=shape["intermediate"],
            tokens=n,
        )

    per_message = [passes * flops_of(n) for n in tokens]
    median_tokens = int(statistics.median(tokens))
    with torch_threads(threads):
        peak = matmul_peak_gflops(n=settings.matmul_n, repeats=settings.matmul_repeats)
        floor_ms = flops_of(median_tokens) / (peak * 1e9) * 1000
        results = {
            name: measure_path(
                predict,
                texts=texts,
                gold=gold,
                flops=per_message,
                floor_ms=floor_ms,
                peak_gflops=peak,
                settings=settings,
                progress=progress,
                name=name,
            )
            for name, predict in paths.items()
        }
    reference = results[next(iter(results))]["accuracy"]
    for figures in results.values():
        figures["accuracy_change"] = round(figures["accuracy"] - reference, 4)
    return {
        "threads": threads,
        "peak_gflops": round(peak, 2),
        "matmul_n": settings.matmul_n,
        "model_version": model_version,
        "encoder": shape,
        "encoder_passes": passes,
        "sample": str(sample),
        "n_sample": len(texts),
        "median_tokens": median_tokens,
        "pass_gflop": round(flops_of(median_tokens) / 1e9, 4),
        "floor_ms": round(floor_ms, 3),
        "served_path": served,
        "latency_over_floor": results[served]["latency_over_floor"],
        "roofline_efficiency": results[served]["roofline_efficiency"],
        "paths": results,
        "settings": asdict(settings),
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
