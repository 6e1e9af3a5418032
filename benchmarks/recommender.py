"""The recommender benchmark: ``evaluate_recommender``'s whole run on data files.

The protocol of ``shared/data/README.md`` (:mod:`recommender.metrics`): each user's
last interaction is the test target, the one before it the validation target
(hyper-parameters and early stopping), every item is ranked and the user's earlier
items are masked. HR@10 and NDCG@10 for our model and, on the same split in the
same run, popularity, ItemKNN and implicit's ALS, item-to-item transitions and text
similarity; plus a cold-start score with 20 % of the items held out of training.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from implicit.als import AlternatingLeastSquares
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

from ml.torch_utils import Progress, encode_texts, no_progress, torch_threads
from recommender.metrics import Scorer, Split, leave_one_out, rank_metrics
from recommender.model import RecommenderModel, TrainConfig
from recommender.training import fit_recommender

__all__ = [
    "DataError",
    "als_scorer",
    "content_scorer",
    "item_text",
    "itemknn_scorer",
    "popularity_scorer",
    "read_interactions",
    "read_items",
    "run_benchmark",
    "transition_scorer",
]

INTERACTION_COLUMNS = ("user", "item", "position")


class DataError(ValueError):
    """An input file is malformed; the message names the file and the line."""


# --- Reading ------------------------------------------------------------------------


def item_text(row: Mapping[str, Any]) -> str:
    """The text that stands for an item in the content model.

    Args:
        row: an ``items.jsonl`` row (title, brand, categories, description).

    Returns:
        Title, brand and categories first (the encoder truncates long inputs, and
        those carry most of the meaning), then the start of the description.
    """
    parts = [str(row.get(key) or "").strip() for key in ("title", "brand")]
    parts.append(str(row.get("categories") or "").strip())
    parts.append(str(row.get("description") or "").strip()[:300])
    return ". ".join(p for p in parts if p)


def read_items(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read ``items.jsonl``.

    Args:
        path: one JSON object a line with at least ``item`` and ``title``.

    Returns:
        Item id → item text (:func:`item_text`), in file order.

    Raises:
        DataError: naming the file and line of a malformed row or a duplicate id.
    """
    items: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: expected a JSON object")
            item = row.get("item")
            if item is None or str(item).strip() == "":
                raise DataError(f"{path}:{number}: missing 'item'")
            if not isinstance(row.get("title"), str):
                raise DataError(f"{path}:{number}: missing 'title'")
            item = str(item)
            if item in items:
                raise DataError(f"{path}:{number}: duplicate item {item!r}")
            items[item] = item_text(row)
    if not items:
        raise DataError(f"{path}: no items")
    return items


def read_interactions(
    path: str | os.PathLike[str], *, items: Mapping[str, Any] | set[str]
) -> tuple[dict[str, list[str]], int]:
    """Read ``interactions.csv`` (``user,item,position``) into time-ordered sequences.

    Args:
        path: the CSV file.
        items: the known item ids; rows naming another item are skipped and counted.

    Returns:
        (user → items ordered by position, number of rows skipped for unknown items).

    Raises:
        DataError: naming the file and line of a missing header or a malformed row.
    """
    rows: dict[str, list[tuple[int, str]]] = {}
    skipped = 0
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != INTERACTION_COLUMNS:
            raise DataError(
                f"{path}:1: expected the header {','.join(INTERACTION_COLUMNS)}"
            )
        for row in reader:
            number = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(INTERACTION_COLUMNS):
                raise DataError(
                    f"{path}:{number}: expected 3 fields (user,item,position), "
                    f"got {len(row)}"
                )
            user, item, raw_position = (cell.strip() for cell in row)
            if not user or not item:
                raise DataError(f"{path}:{number}: empty user or item")
            try:
                position = int(raw_position)
            except ValueError:
                raise DataError(
                    f"{path}:{number}: position {raw_position!r} is not an integer"
                ) from None
            if item not in items:
                skipped += 1
                continue
            rows.setdefault(user, []).append((position, item))
    sequences = {
        user: [item for _, item in sorted(events, key=lambda e: e[0])]
        for user, events in rows.items()
    }
    return sequences, skipped


# --- Baselines ----------------------------------------------------------------------


def _user_item_matrix(train: Mapping[Any, Sequence[int]], n_items: int) -> Any:
    rows, cols = [], []
    for row, items in enumerate(train.values()):
        for item in set(items):
            rows.append(row)
            cols.append(item)
    data = np.ones(len(rows), dtype=np.float32)
    return csr_matrix((data, (rows, cols)), shape=(len(train), n_items))


def popularity_scorer(train: Mapping[Any, Sequence[int]], n_items: int) -> Scorer:
    """Every user gets the same ranking: items by training interaction count."""
    counts = np.zeros(n_items, dtype=np.float64)
    for items in train.values():
        np.add.at(counts, np.asarray(items, dtype=np.int64), 1.0)

    def score(histories: Sequence[Sequence[int]]) -> np.ndarray:
        return np.tile(counts, (len(histories), 1))

    return score


def itemknn_scorer(
    train: Mapping[Any, Sequence[int]], n_items: int, *, neighbours: int | None
) -> Scorer:
    """Cosine item-item similarity on the binary user-item matrix.

    Args:
        train: training sequences.
        n_items: number of items.
        neighbours: keep each item's top-n similar items (``None``: all).

    Returns:
        A scorer summing the similarities of the history's items.
    """
    matrix = _user_item_matrix(train, n_items)
    co = (matrix.T @ matrix).toarray().astype(np.float32)
    norms = np.sqrt(np.diag(co)).astype(np.float32)
    norms[norms == 0] = 1.0
    sim = co / norms[:, None] / norms[None, :]
    np.fill_diagonal(sim, 0.0)
    if neighbours is not None and neighbours < n_items:
        cut = np.argpartition(-sim, neighbours, axis=1)[:, neighbours:]
        np.put_along_axis(sim, cut, 0.0, axis=1)

    def score(histories: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(histories), n_items), dtype=np.float32)
        for row, history in enumerate(histories):
            if history:
                out[row] = sim[list(set(history))].sum(axis=0)
        return out

    return score


def als_scorer(
    train: Mapping[Any, Sequence[int]],
    n_items: int,
    *,
    factors: int,
    regularization: float,
    alpha: float,
    iterations: int = 15,
    seed: int = 0,
) -> Scorer:
    """implicit's ALS; a user's factors are recomputed from the history given.

    Args:
        train: training sequences.
        n_items: number of items.
        factors: latent dimension.
        regularization: L2 weight.
        alpha: confidence scale of observed interactions.
        iterations: ALS sweeps.
        seed: random state.

    Returns:
        A scorer: least-squares user factors for each history, dot the item factors.
    """
    # implicit runs its own threads; BLAS threads on top of them oversubscribe.
    blas = threadpool_limits(1, "blas")
    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=iterations,
        random_state=seed,
        num_threads=1,
    )
    model.fit(_user_item_matrix(train, n_items), show_progress=False)
    blas.restore_original_limits()
    item_factors = np.asarray(model.item_factors)

    def score(histories: Sequence[Sequence[int]]) -> np.ndarray:
        rows, cols = [], []
        for row, history in enumerate(histories):
            for item in set(history):
                rows.append(row)
                cols.append(item)
        matrix = csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(histories), n_items),
        )
        with threadpool_limits(1, "blas"):
            users = model.recalculate_user(np.arange(len(histories)), matrix)
        return np.asarray(users @ item_factors.T)

    return score


def transition_scorer(
    train: Mapping[Any, Sequence[int]], n_items: int, *, decay: float
) -> Scorer:
    """Item-to-item transitions: what followed each recent item in training.

    Args:
        train: training sequences.
        n_items: number of items.
        decay: weight of each step further back (0: the last item only).

    Returns:
        A scorer summing the row-normalized next-item counts of the last ten items.
    """
    counts = np.zeros((n_items, n_items), dtype=np.float32)
    for items in train.values():
        for a, b in itertools.pairwise(items):
            counts[a, b] += 1.0
    counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1.0)

    def score(histories: Sequence[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(histories), n_items), dtype=np.float32)
        for row, history in enumerate(histories):
            recent = list(history)[-10:]
            if recent:
                weights = decay ** np.arange(len(recent), dtype=np.float32)[::-1]
                out[row] = weights @ counts[recent]
        return out

    return score


def content_scorer(vectors: np.ndarray, *, decay: float = 0.7) -> Scorer:
    """Content only: cosine to a recency-weighted mean of the history's embeddings.

    Args:
        vectors: ``(n_items, dim)`` normalized item text embeddings.
        decay: weight of each step further back in the history.

    Returns:
        A scorer that needs no interaction data at all.
    """

    def score(histories: Sequence[Sequence[int]]) -> np.ndarray:
        profiles = np.zeros((len(histories), vectors.shape[1]), dtype=np.float32)
        for row, history in enumerate(histories):
            recent = list(history)[-20:]
            weights = decay ** np.arange(len(recent))[::-1]
            profiles[row] = weights @ vectors[recent] if recent else 0.0
        return profiles @ vectors.T

    return score


# --- The benchmark ------------------------------------------------------------------


def _best(
    candidates: Iterable[tuple[dict[str, Any], Callable[[], Scorer]]],
    split: Split,
    progress: Progress,
    desc: str,
    total: int,
) -> dict[str, Any]:
    """Fit each candidate, keep the best validation NDCG@10, report its test score."""
    best: tuple[float, dict[str, Any], Scorer] | None = None
    grid = []
    for params, build in progress(candidates, desc, total):
        scorer = build()
        valid = rank_metrics(scorer, split.valid)
        grid.append({**params, "valid_ndcg@10": round(valid["ndcg@10"], 5)})
        if best is None or valid["ndcg@10"] > best[0]:
            best = (valid["ndcg@10"], params, scorer)
    assert best is not None
    return {
        "params": best[1],
        "valid": rank_metrics(best[2], split.valid),
        "test": rank_metrics(best[2], split.test),
        "grid": grid,
    }


def run_benchmark(
    items_path: str | os.PathLike[str],
    interactions_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    cold_fraction: float = 0.2,
    config: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Our model against popularity, ItemKNN and ALS on one leave-one-out split.

    Args:
        items_path: ``items.jsonl``.
        interactions_path: ``interactions.csv``.
        seed: for the model, ALS and the choice of cold items.
        cold_fraction: share of items held out of training for the cold-start score.
        config: a :class:`recommender.model.TrainConfig` (defaults if None).
        progress: wraps long loops, ``(iterable, desc, total)`` (e.g. tqdm).

    Returns:
        A JSON-ready dict: data counts, each model's chosen parameters with validation
        and test HR@10 / NDCG@10, the cold-start comparison and timings.

    Raises:
        DataError: a malformed input row (file and line in the message).
    """
    progress = progress or no_progress
    started = time.monotonic()
    texts = read_items(items_path)
    sequences, skipped = read_interactions(interactions_path, items=texts)
    item_ids = list(texts)
    index = {item: i for i, item in enumerate(item_ids)}
    n_items = len(item_ids)
    split = leave_one_out(
        {user: [index[i] for i in items] for user, items in sequences.items()}
    )
    if not split.valid or not split.test:
        raise DataError(
            f"{interactions_path}: too few interactions for leave-one-out "
            "(users need three or more)"
        )
    results: dict[str, Any] = {
        "data": {
            "items_file": str(items_path),
            "interactions_file": str(interactions_path),
            "items": n_items,
            "users": len(sequences),
            "interactions": sum(len(s) for s in sequences.values()),
            "skipped_unknown_items": skipped,
            "valid_cases": len(split.valid),
            "test_cases": len(split.test),
        },
        "protocol": (
            "chronological leave-one-out: last item = test, the one before = "
            "validation (grids and early stopping); all items ranked, the user's "
            "earlier items masked; ties count against the target"
        ),
        "seed": seed,
    }
    config = config or TrainConfig()
    timer = time.monotonic()
    with torch_threads(config.threads):
        vectors = encode_texts(list(texts.values()), progress=progress)
    results["embed_seconds"] = round(time.monotonic() - timer, 1)

    models: dict[str, Any] = {}
    models["popularity"] = _best(
        [({}, partial(popularity_scorer, split.train, n_items))],
        split,
        progress,
        "popularity",
        1,
    )
    models["itemknn"] = _best(
        [
            (
                {"neighbours": nb},
                partial(itemknn_scorer, split.train, n_items, neighbours=nb),
            )
            for nb in (20, 100, None)
        ],
        split,
        progress,
        "ItemKNN grid",
        3,
    )
    als_grid = [(f, 0.1, a) for f in (64, 128, 256) for a in (10.0, 40.0)]
    models["als"] = _best(
        [
            (
                {"factors": f, "regularization": r, "alpha": a},
                partial(
                    als_scorer,
                    split.train,
                    n_items,
                    factors=f,
                    regularization=r,
                    alpha=a,
                    seed=seed,
                ),
            )
            for f, r, a in als_grid
        ],
        split,
        progress,
        "ALS grid",
        len(als_grid),
    )
    models["transitions"] = _best(
        [
            ({"decay": d}, partial(transition_scorer, split.train, n_items, decay=d))
            for d in (0.0, 0.5)
        ],
        split,
        progress,
        "transition grid",
        2,
    )
    models["content"] = _best(
        [
            ({"decay": d}, partial(content_scorer, vectors, decay=d))
            for d in (0.0, 0.3, 0.6)
        ],
        split,
        progress,
        "content grid",
        3,
    )
    decay = models["content"]["params"]["decay"]

    train = {u: [item_ids[i] for i in s] for u, s in split.train.items()}
    valid = [
        ([item_ids[i] for i in c.history], item_ids[c.target]) for c in split.valid
    ]
    # The main run and the cold-start run differ only in their training sequences.
    fit: Callable[[dict[Any, list[str]]], RecommenderModel] = partial(
        fit_recommender,
        item_texts=texts,
        item_vectors=vectors,
        validation=valid,
        config=config,
        progress=progress,
        seed=seed,
    )
    timer = time.monotonic()
    model = fit(train)
    train_seconds = time.monotonic() - timer
    if model.item_ids != item_ids:
        raise AssertionError("the model's item order differs from the file's")
    models["ours"] = {
        "params": dataclasses.asdict(model.config),
        "valid": rank_metrics(model.scores, split.valid),
        "test": rank_metrics(model.scores, split.test),
        "training": model.meta,
    }
    results["models"] = models
    results["train_seconds"] = round(train_seconds, 2)
    baselines = ("popularity", "itemknn", "als")
    best_baseline = max(baselines, key=lambda m: models[m]["test"]["ndcg@10"])
    results["summary"] = {
        name: {
            "hr@10": round(models[name]["test"]["hr@10"], 4),
            "ndcg@10": round(models[name]["test"]["ndcg@10"], 4),
        }
        for name in ("ours", *baselines, "transitions", "content")
    }
    results["best_baseline"] = best_baseline
    best_ndcg = models[best_baseline]["test"]["ndcg@10"]
    results["ndcg_ratio_to_best_baseline"] = round(
        models["ours"]["test"]["ndcg@10"] / best_ndcg if best_ndcg else math.inf, 3
    )

    results["cold_start"] = _cold_start(
        split,
        fit=fit,
        item_ids=item_ids,
        vectors=vectors,
        decay=decay,
        fraction=cold_fraction,
        seed=seed,
    )
    results["total_seconds"] = round(time.monotonic() - started, 1)
    return results


def _cold_start(
    split: Split,
    *,
    fit: Callable[[dict[Any, list[str]]], RecommenderModel],
    item_ids: list[str],
    vectors: np.ndarray,
    decay: float,
    fraction: float,
    seed: int,
) -> dict[str, Any]:
    """Hold ``fraction`` of the items out of training; rank them on test cases.

    ``fit`` trains on the sequences it is given with the main run's texts, vectors,
    validation cases and config.
    """
    n_items = len(item_ids)
    rng = random.Random(seed)
    cold = set(rng.sample(range(n_items), round(fraction * n_items)))
    train = {
        u: [item_ids[i] for i in s if i not in cold] for u, s in split.train.items()
    }
    train = {u: s for u, s in train.items() if s}
    # Validation (the main run's) keeps the cases whose target is held out: they
    # tune how far to trust text for items never seen in training (as a new
    # product would be).
    cases = [c for c in split.test if c.target in cold]
    timer = time.monotonic()
    model = fit(train)
    warm_cases = [c for c in split.test if c.target not in cold]
    return {
        "held_out_items": len(cold),
        "test_cases": len(cases),
        "content": rank_metrics(content_scorer(vectors, decay=decay), cases),
        "hybrid": rank_metrics(model.scores, cases),
        "hybrid_on_warm_targets": rank_metrics(model.scores, warm_cases),
        "content_on_warm_targets": rank_metrics(
            content_scorer(vectors, decay=decay), warm_cases
        ),
        "train_seconds": round(time.monotonic() - timer, 1),
        "training": model.meta,
    }
