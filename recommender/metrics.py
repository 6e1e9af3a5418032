"""Measuring a recommender: leave-one-out cases and full-ranking HR / NDCG.

What training (early stopping, the text blend, the registry's metrics) and the
benchmarks both need. The protocol of ``shared/data/README.md``: each user's last
interaction is the test target, the one before it the validation target, every
item is ranked and the user's earlier items are masked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Case",
    "Scorer",
    "Split",
    "case_gains",
    "history_masks",
    "leave_one_out",
    "ndcg",
    "rank_metrics",
]

K = 10
# (histories) -> scores, shape (len(histories), n_items); histories are item indices.
Scorer = Callable[[Sequence[Sequence[int]]], np.ndarray]


@dataclass(frozen=True)
class Case:
    """One ranking task: given ``history`` (item indices), find ``target``."""

    user: Any
    history: tuple[int, ...]
    target: int


@dataclass
class Split:
    """Training sequences (all but the last two items) and the held-out cases."""

    train: dict[Any, list[int]]
    valid: list[Case] = field(default_factory=list)
    test: list[Case] = field(default_factory=list)


def leave_one_out(sequences: Mapping[Any, Sequence[int]]) -> Split:
    """Chronological leave-one-out.

    Args:
        sequences: user → item indices in time order.

    Returns:
        Users with three or more items give a validation case (history: all but the
        last two) and a test case (history: all but the last); users with two give a
        test case only; training keeps everything before the held-out targets.
    """
    split = Split(train={})
    for user, items in sequences.items():
        items = list(items)
        if len(items) >= 3:
            split.train[user] = items[:-2]
            split.valid.append(Case(user, tuple(items[:-2]), items[-2]))
            split.test.append(Case(user, tuple(items[:-1]), items[-1]))
        elif len(items) == 2:
            split.train[user] = items[:1]
            split.test.append(Case(user, tuple(items[:1]), items[1]))
        elif items:
            split.train[user] = items
    return split


def history_masks(cases: Sequence[Case], n_items: int) -> np.ndarray:
    """``(cases, n_items)``: True for the history items other than the target."""
    masks = np.zeros((len(cases), n_items), dtype=bool)
    for row, case in enumerate(cases):
        masks[row, list(case.history)] = True
        masks[row, case.target] = False
    return masks


def _ranks(scores: np.ndarray, masks: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each target's 0-based rank among the unmasked items; ties count against it."""
    value = scores[np.arange(len(targets)), targets]
    return ((scores >= value[:, None]) & ~masks).sum(axis=1) - 1


def _gains(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def case_gains(
    scores: np.ndarray, masks: np.ndarray, targets: np.ndarray, *, k: int = K
) -> np.ndarray:
    """Each case's NDCG@k gain (what a paired comparison of two models needs)."""
    return _gains(_ranks(scores, masks, targets), k)


def ndcg(
    scores: np.ndarray, masks: np.ndarray, targets: np.ndarray, *, k: int = K
) -> float:
    """NDCG@k of precomputed scores, the history masked; ties count against.

    Args:
        scores: ``(cases, n_items)``, every item's score for each case.
        masks: :func:`history_masks` of the cases (computed once when the same
            cases are scored many times).
        targets: each case's target item.
        k: the cut-off.

    Returns:
        The mean gain; 0.0 without cases.
    """
    gains = _gains(_ranks(scores, masks, targets), k)
    return float(gains.mean()) if len(gains) else 0.0


def rank_metrics(
    scorer: Scorer,
    cases: Sequence[Case],
    *,
    k: int = K,
    batch_size: int = 512,
) -> dict[str, float]:
    """HR@k and NDCG@k over full rankings with the history masked.

    Args:
        scorer: scores every item for a batch of histories.
        cases: the ranking tasks.
        k: the cut-off.
        batch_size: histories scored at once.

    Returns:
        ``{"hr@k", "ndcg@k", "cases"}``. A tie with the target counts against it
        (a model that scores everything alike must not look lucky).
    """
    hits = 0.0
    gain = 0.0
    for start in range(0, len(cases), batch_size):
        batch = cases[start : start + batch_size]
        scores = np.array(scorer([c.history for c in batch]), dtype=np.float64)
        masks = history_masks(batch, scores.shape[1])
        ranks = _ranks(scores, masks, np.array([c.target for c in batch]))
        hits += float((ranks < k).sum())
        gain += float(_gains(ranks, k).sum())
    n = max(len(cases), 1)
    return {f"hr@{k}": hits / n, f"ndcg@{k}": gain / n, "cases": len(cases)}
