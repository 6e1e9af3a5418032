"""One promotion rule for every kind of model: compare on the golden set, then
promote or reject, with the reason.

A candidate goes live only if its primary metric on the golden set is not worse
than the active version's beyond the noise of that set. The noise is measured by a
paired bootstrap over the golden examples: both versions are scored on the same
resampled examples, and the candidate is refused only when it is worse in at least
``CONFIDENCE`` of the resamples (a one-sided test, not a fixed epsilon, so a small
golden set tolerates more and a large one less). Each kind adds its own criteria:

- intents (:func:`judge_classification`): macro-F1 is the primary metric; also no
  intent with at least ``min_support`` golden examples may lose more than
  ``max_recall_drop`` of recall, and out-of-scope recall may not drop;
- recommender (:func:`judge_ranking`): NDCG@10 per golden case.

:func:`judge_*` are pure (predictions in, :class:`Verdict` out); :func:`apply`
activates or rejects the candidate and records the verdict on it and on the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml import registry
from ml.models import ModelVersion, TrainingRun

CONFIDENCE = 0.95
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 20261201


@dataclass(frozen=True)
class Comparison:
    """The primary metric of both versions, and the bootstrap's view of the gap."""

    metric: str
    candidate: float
    active: float
    # The ``1 - CONFIDENCE`` and ``CONFIDENCE`` quantiles of candidate - active.
    low: float
    high: float

    @property
    def worse_beyond_noise(self) -> bool:
        return self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "candidate": round(self.candidate, 4),
            "active": round(self.active, 4),
            "difference_interval": [round(self.low, 4), round(self.high, 4)],
        }


@dataclass(frozen=True)
class Verdict:
    """Whether the candidate goes live, why in one line, and the figures."""

    promote: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def paired_bootstrap(
    score: Callable[[np.ndarray], tuple[float, float]],
    n: int,
    *,
    metric: str,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Comparison:
    """Compare two versions on the same resampled examples.

    Args:
        score: ``score(indices) -> (candidate, active)``, the metric of both
            versions on the examples at ``indices`` (repeats allowed).
        n: how many examples there are.
        metric: the metric's name, for the verdict.
        samples: resamples drawn.
        seed: the resampling seed (a run is repeatable).

    Returns:
        Both versions' metric on all examples and the gap's quantiles.
    """
    everything = np.arange(n)
    candidate, active = score(everything)
    rng = np.random.default_rng(seed)
    gaps = np.empty(samples)
    for i in range(samples):
        c, a = score(rng.integers(0, n, size=n))
        gaps[i] = c - a
    low, high = np.quantile(gaps, [1 - CONFIDENCE, CONFIDENCE])
    return Comparison(metric, candidate, active, float(low), float(high))


def _macro_f1(gold: np.ndarray, pred: np.ndarray, n_labels: int) -> float:
    """Macro-F1 over the labels present in ``gold`` (as classifier.metrics)."""
    support = np.bincount(gold, minlength=n_labels)
    predicted = np.bincount(pred, minlength=n_labels)
    hits = np.bincount(gold[gold == pred], minlength=n_labels)
    present = support > 0
    denominator = support + predicted
    f1 = np.where(denominator > 0, 2 * hits / np.maximum(denominator, 1), 0.0)
    return float(f1[present].mean()) if present.any() else 0.0


def _recall(gold: np.ndarray, pred: np.ndarray, label: int) -> float:
    rows = gold == label
    return float((pred[rows] == label).mean()) if rows.any() else 0.0


def judge_classification(
    *,
    gold: Sequence[str],
    candidate: Sequence[str],
    active: Sequence[str] | None,
    oos_label: str,
    min_support: int = 10,
    max_recall_drop: float = 0.05,
) -> Verdict:
    """The intent rule, on predictions for the golden set.

    Args:
        gold: the golden labels (``oos_label`` for out of scope).
        candidate: the candidate's predicted labels, in the same order.
        active: the active version's, or ``None`` when none is active.
        oos_label: the out-of-scope label.
        min_support: intents with fewer golden examples are not checked one by one
            (their recall moves in steps too large to mean anything).
        max_recall_drop: the most recall one checked intent may lose (0.05 = 5
            points).

    Returns:
        The verdict; a rejection names what failed.
    """
    if len(gold) != len(candidate) or (active is not None and len(active) != len(gold)):
        raise ValueError("gold and predictions must be the same length")
    if not gold:
        if active is None:
            return Verdict(True, "no active version and no golden examples yet")
        return Verdict(False, "the golden set is empty: nothing to judge a model by")
    labels = sorted(set(gold) | set(candidate) | set(active or []))
    index = {label: i for i, label in enumerate(labels)}
    g = np.array([index[label] for label in gold])
    c = np.array([index[label] for label in candidate])
    n_labels = len(labels)
    candidate_f1 = _macro_f1(g, c, n_labels)
    if active is None:
        return Verdict(
            True,
            f"no active version: promoted with golden macro-F1 {candidate_f1:.3f}",
            {"primary": {"metric": "macro_f1", "candidate": round(candidate_f1, 4)}},
        )
    a = np.array([index[label] for label in active])
    comparison = paired_bootstrap(
        lambda rows: (
            _macro_f1(g[rows], c[rows], n_labels),
            _macro_f1(g[rows], a[rows], n_labels),
        ),
        len(g),
        metric="macro_f1",
    )
    support = np.bincount(g, minlength=n_labels)
    recall = {
        label: (_recall(g, c, i), _recall(g, a, i))
        for label, i in index.items()
        if support[i] >= min_support and label != oos_label
    }
    drops = sorted(
        (
            (label, before - after)
            for label, (after, before) in recall.items()
            if before - after > max_recall_drop + 1e-9
        ),
        key=lambda item: -item[1],
    )
    details: dict[str, Any] = {
        "primary": comparison.as_dict(),
        "recall": {
            label: {"candidate": round(after, 4), "active": round(before, 4)}
            for label, (after, before) in recall.items()
        },
    }
    failures = []
    if comparison.worse_beyond_noise:
        failures.append(
            f"golden macro-F1 {comparison.candidate:.3f} is worse than the active "
            f"{comparison.active:.3f} beyond noise"
        )
    if drops:
        failures.append(
            "recall dropped for "
            + ", ".join(f"{label} (-{drop * 100:.0f} points)" for label, drop in drops)
        )
    if oos_label in index and support[index[oos_label]]:
        oos_after = _recall(g, c, index[oos_label])
        oos_before = _recall(g, a, index[oos_label])
        details["oos_recall"] = {
            "candidate": round(oos_after, 4),
            "active": round(oos_before, 4),
        }
        if oos_after < oos_before - 1e-9:
            failures.append(
                f"out-of-scope recall dropped from {oos_before:.2f} to {oos_after:.2f}"
            )
    if failures:
        return Verdict(False, "; ".join(failures), details)
    return Verdict(
        True,
        f"golden macro-F1 {comparison.candidate:.3f} vs active "
        f"{comparison.active:.3f}; no intent lost more than "
        f"{max_recall_drop * 100:.0f} points of recall",
        details,
    )


def judge_ranking(
    *,
    candidate: Sequence[float],
    active: Sequence[float] | None,
    metric: str = "ndcg@10",
) -> Verdict:
    """The recommender rule, on per-case gains (NDCG@10) over the golden cases.

    Args:
        candidate: the candidate's gain for each golden case.
        active: the active version's, in the same order; ``None`` when none is
            active.
        metric: the gains' name, for the verdict.

    Returns:
        The verdict.
    """
    c = np.asarray(candidate, dtype=np.float64)
    if not len(c):
        if active is None:
            return Verdict(True, "no active version and no golden cases yet")
        return Verdict(False, "the golden set is empty: nothing to judge a model by")
    if active is None:
        return Verdict(
            True,
            f"no active version: promoted with golden {metric} {c.mean():.3f}",
            {"primary": {"metric": metric, "candidate": round(float(c.mean()), 4)}},
        )
    a = np.asarray(active, dtype=np.float64)
    if a.shape != c.shape:
        raise ValueError("both versions must be scored on the same cases")
    comparison = paired_bootstrap(
        lambda rows: (float(c[rows].mean()), float(a[rows].mean())),
        len(c),
        metric=metric,
    )
    details = {"primary": comparison.as_dict()}
    if comparison.worse_beyond_noise:
        return Verdict(
            False,
            f"golden {metric} {comparison.candidate:.3f} is worse than the active "
            f"{comparison.active:.3f} beyond noise",
            details,
        )
    return Verdict(
        True,
        f"golden {metric} {comparison.candidate:.3f} vs active {comparison.active:.3f}",
        details,
    )


def apply(
    verdict: Verdict, *, candidate: ModelVersion, run: TrainingRun | None = None
) -> bool:
    """Activate or reject ``candidate`` as ``verdict`` says; record it on both rows.

    Returns:
        Whether the candidate is now active. A candidate whose artifact fails its
        check at activation is rejected with that reason instead.
    """
    promote, reason = verdict.promote, verdict.reason
    candidate.metrics["verdict"] = {"promoted": promote, "reason": reason}
    candidate.metrics["comparison"] = verdict.details
    candidate.save(update_fields=["metrics"])
    if promote:
        try:
            registry.activate(candidate)
        except registry.ArtifactError as error:
            promote, reason = False, f"its artifact failed the check: {error}"
    if not promote:
        registry.reject(candidate)
    if run is not None:
        run.version = candidate
        run.outcome = (
            TrainingRun.Outcome.PROMOTED if promote else TrainingRun.Outcome.REJECTED
        )
        run.reason = reason[:300]
        run.save(update_fields=["version", "outcome", "reason"])
    return promote
