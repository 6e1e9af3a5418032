"""Training the intent model, and registering it.

:func:`fit_intent_model` fits a model on the texts it is given (the management
commands, the benchmarks and the tests call it); :func:`intent_model_train` is the
product's workflow, recorded as a ``TrainingRun``: build the training set (golden
examples, the rotating hold-out, conflicts and the per-reviewer and
per-conversation caps left out), fit, score the candidate and the active version
on the golden set and the hold-out, register, and let ``ml.promotion`` decide.
"""

from __future__ import annotations

import copy
import math
import os
import random
import re
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from classifier.metrics import metrics as classification_metrics
from classifier.model import (
    OOS_LABEL,
    Calibration,
    IntentModel,
    IntentNet,
    TrainConfig,
    base_transformer,
    softmax,
)
from classifier.models import OUT_OF_SCOPE, TrainingExample
from classifier.normalise import for_the_model
from ml import promotion, registry
from ml.encoder import get_encoder
from ml.models import GoldenSet, ModelVersion, TrainingRun
from ml.runs import RunRecorder

ProgressCallback = Callable[[int, int], None]
# Seeds the first golden set's draw.
GOLDEN_SEED = 20261129


class TrainingError(ValueError):
    """The examples can't train a model (e.g. fewer than two intents)."""


# -- settings, read at call time ---------------------------------------------------


def reviewer_cap() -> int:
    """Reviewed examples one reviewer may contribute to a training set."""
    return int(settings.RETRAIN_MAX_PER_REVIEWER)


def conversation_cap() -> int:
    """Reviewed examples one conversation may contribute to a training set."""
    return int(settings.RETRAIN_MAX_PER_CONVERSATION)


def duplicate_similarity() -> float:
    """The cosine from which two texts are near-duplicates."""
    return int(settings.RETRAIN_DUPLICATE_SIMILARITY) / 100


# -- the data a run trains and is measured on ---------------------------------------


@dataclass
class Example:
    pk: int
    text: str
    label: str
    source: str
    reviewer: str | None
    conversation_id: int | None
    golden: bool


@dataclass
class TrainingSet:
    """What one run trains on and is measured on, and why the rest was left out."""

    train: list[Example]
    holdout: list[Example]
    golden: list[Example]
    snapshot: dict[str, Any] = field(default_factory=dict)


def _examples() -> list[Example]:
    rows = TrainingExample.objects.order_by("pk").values_list(
        "pk",
        "text",
        "intent__name",
        "source",
        "added_by__username",
        "conversation_id",
        "golden",
    )
    return [
        Example(pk, text, name or OUT_OF_SCOPE, source, reviewer, conversation, golden)
        for pk, text, name, source, reviewer, conversation, golden in rows
    ]


def golden_set_ensure(examples: list[Example]) -> GoldenSet:
    """The intents' golden set; the first call freezes one.

    Examples already marked golden (an import with ``--golden``, the demo's
    golden.yaml) are the set; else a seeded draw of up to ``GOLDEN_PER_INTENT``
    seed or imported examples per label, never more than a third of a label's,
    so that training keeps the rest.
    """
    golden, created = GoldenSet.objects.get_or_create(
        kind=ModelVersion.Kind.INTENT,
        defaults={"note": "frozen by the first training run"},
    )
    if created and not any(e.golden for e in examples):
        rng = random.Random(GOLDEN_SEED)
        by_label: dict[str, list[Example]] = defaultdict(list)
        for example in examples:
            if example.source != TrainingExample.Source.REVIEW:
                by_label[example.label].append(example)
        chosen: list[int] = []
        for label in sorted(by_label):
            rows = by_label[label]
            rng.shuffle(rows)
            take = min(int(settings.GOLDEN_PER_INTENT), len(rows) // 3)
            chosen += [e.pk for e in rows[:take]]
        TrainingExample.objects.filter(pk__in=chosen).update(golden=True)
        frozen = set(chosen)
        for example in examples:
            example.golden = example.golden or example.pk in frozen
    return golden


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", for_the_model(text).casefold()).split())


def conflicts_refresh(examples: list[Example]) -> dict[int, int]:
    """Flag the examples whose text is the same, or nearly, as another's with a
    different label; the flags are stored (the admin lists them) and returned.

    Same: equal after lower-casing and dropping punctuation, markup and emoji.
    Nearly: the shared encoder's embeddings at least ``duplicate_similarity()``
    alike.

    Returns:
        example id → the id of an example it conflicts with.
    """
    conflicts: dict[int, int] = {}
    by_text: dict[str, Example] = {}
    for example in examples:
        seen = by_text.setdefault(_normalised(example.text), example)
        if seen.label != example.label:
            conflicts.setdefault(example.pk, seen.pk)
            conflicts.setdefault(seen.pk, example.pk)
    if len(examples) > 1:
        vectors = get_encoder().encode([e.text for e in examples])
        labels = np.array([e.label for e in examples])
        threshold = duplicate_similarity()
        for start in range(0, len(examples), 512):
            block = vectors[start : start + 512] @ vectors.T
            rows, cols = np.nonzero(block >= threshold)
            for row, col in zip(rows + start, cols, strict=True):
                if labels[row] != labels[col]:
                    conflicts.setdefault(examples[row].pk, examples[col].pk)
    stale = TrainingExample.objects.filter(conflict__isnull=False).exclude(
        pk__in=conflicts
    )
    stale.update(conflict=None)
    changed = [
        TrainingExample(pk=pk, conflict_id=other) for pk, other in conflicts.items()
    ]
    TrainingExample.objects.bulk_update(changed, ["conflict"], batch_size=500)
    return conflicts


def _previous_cutoff() -> int:
    """The newest example id the previous finished run of the intents saw."""
    previous = (
        TrainingRun.objects.filter(
            kind=ModelVersion.Kind.INTENT, finished__isnull=False
        )
        .exclude(outcome=TrainingRun.Outcome.FAILED)
        .order_by("-finished")
        .values_list("snapshot", flat=True)
        .first()
    )
    return int((previous or {}).get("cutoff_id") or 0)


def _capped(
    rows: list[Example], key: Callable[[Example], Any], cap: int
) -> tuple[list[Example], Counter[Any]]:
    """The newest ``cap`` rows of each key (``None`` keys are not capped)."""
    kept: list[Example] = []
    counts: Counter[Any] = Counter()
    skipped: Counter[Any] = Counter()
    for example in sorted(rows, key=lambda e: -e.pk):
        group = key(example)
        if group is not None and counts[group] >= cap:
            skipped[group] += 1
            continue
        counts[group] += 1
        kept.append(example)
    return sorted(kept, key=lambda e: e.pk), skipped


def training_set_build() -> TrainingSet:
    """Split the database's examples into what the next run trains on, its
    rotating hold-out and the golden set, applying the conflicts and the caps.

    The hold-out is the newest ``RETRAIN_HOLDOUT_PERCENT`` of the reviewed
    examples added since the previous run (at most ``RETRAIN_HOLDOUT_MAX``):
    neither the active model nor this candidate trained on them, and the next run
    trains on them.
    """
    examples = _examples()
    golden_set = golden_set_ensure(examples)
    conflicts = conflicts_refresh(examples)
    cutoff = _previous_cutoff()
    golden = [e for e in examples if e.golden]
    pool = [e for e in examples if not e.golden and e.pk not in conflicts]
    new_reviewed = [
        e for e in pool if e.source == TrainingExample.Source.REVIEW and e.pk > cutoff
    ]
    n_holdout = min(
        math.ceil(len(new_reviewed) * int(settings.RETRAIN_HOLDOUT_PERCENT) / 100),
        int(settings.RETRAIN_HOLDOUT_MAX),
    )
    holdout = sorted(new_reviewed, key=lambda e: -e.pk)[:n_holdout]
    held = {e.pk for e in holdout}
    reviewed = [
        e
        for e in pool
        if e.source == TrainingExample.Source.REVIEW and e.pk not in held
    ]
    others = [e for e in pool if e.source != TrainingExample.Source.REVIEW]
    reviewed, over_reviewer = _capped(reviewed, lambda e: e.reviewer, reviewer_cap())
    reviewed, over_conversation = _capped(
        reviewed, lambda e: e.conversation_id, conversation_cap()
    )
    train = sorted(others + reviewed, key=lambda e: e.pk)
    snapshot = {
        "examples": len(examples),
        "cutoff_id": max((e.pk for e in examples), default=0),
        "train": len(train),
        "by_source": dict(Counter(e.source for e in train)),
        "by_intent": dict(sorted(Counter(e.label for e in train).items())),
        "golden": {"version": golden_set.version, "examples": len(golden)},
        "holdout": {"examples": len(holdout), "added_after_id": cutoff},
        "left_out": {
            "golden": len(golden),
            "conflicts": len([e for e in examples if e.pk in conflicts]),
            "holdout": len(holdout),
            "over_reviewer_cap": sum(over_reviewer.values()),
            "over_conversation_cap": sum(over_conversation.values()),
        },
        "caps": {
            "per_reviewer": reviewer_cap(),
            "per_conversation": conversation_cap(),
        },
        "capped_reviewers": {str(k): n for k, n in over_reviewer.most_common(10)},
    }
    return TrainingSet(train=train, holdout=holdout, golden=golden, snapshot=snapshot)


def score(
    model: IntentModel, examples: list[Example]
) -> tuple[list[str], dict[str, Any]]:
    """The model's predicted labels for ``examples`` (read as serving reads a
    message) and its metrics on them; ``{}`` for no examples."""
    if not examples:
        return [], {}
    predictions = model.predict([for_the_model(e.text) for e in examples])
    gold = [e.label for e in examples]
    result: dict[str, Any] = classification_metrics(gold, predictions)
    result["examples"] = len(examples)
    return [p.intent for p in predictions], result


def _active_model() -> tuple[ModelVersion | None, IntentModel | None, str]:
    """The active version, loaded here for comparison (not the serving copy)."""
    active = ModelVersion.objects.filter(
        kind=ModelVersion.Kind.INTENT, status=ModelVersion.Status.ACTIVE
    ).first()
    if active is None:
        return None, None, ""
    try:
        return active, IntentModel.load(registry.verified_path(active)), ""
    except (registry.ArtifactError, OSError, ValueError) as error:
        return active, None, f"the active {active} could not be loaded ({error})"


def intent_model_train(
    *,
    recorder: RunRecorder,
    promote: bool,
    force: bool = False,
    **options: Any,
) -> ModelVersion:
    """Train on the database's examples, measure, register, and judge the candidate.

    The candidate and the active version are both scored on the golden set and on
    the run's hold-out; ``ml.promotion.judge_classification`` decides on the golden
    set, and the verdict is recorded on the version and the run.

    Args:
        recorder: the run's recorder (stage, progress, log, snapshot).
        promote: activate or reject the candidate as the verdict says; else it
            stays a candidate, with the verdict recorded.
        force: activate it whatever the verdict (an operator's decision).
        **options: overrides of ``classifier.model.TrainConfig``.

    Returns:
        The registered version.

    Raises:
        TrainingError: the examples can't train a model.
    """
    recorder.stage("reading the examples", start=0, end=5)
    data = training_set_build()
    recorder.snapshot(data.snapshot)
    left_out = data.snapshot["left_out"]
    recorder.say(
        f"{len(data.train)} examples to train on; left out: {left_out['golden']} "
        f"golden, {left_out['holdout']} held out, {left_out['conflicts']} in "
        f"conflict, {left_out['over_reviewer_cap']} over the per-reviewer cap, "
        f"{left_out['over_conversation_cap']} over the per-conversation cap"
    )
    intents = {e.label for e in data.train} - {OUT_OF_SCOPE}
    if len(intents) < 2:
        raise TrainingError(
            f"{len(intents)} intent(s) have examples; at least 2 are needed to train"
        )
    recorder.stage("training", start=5, end=85)
    try:
        model = fit_intent_model(
            [e.text for e in data.train],
            [e.label for e in data.train],
            progress=recorder.progress,
            **options,
        )
    except ValueError as error:
        raise TrainingError(str(error)) from None
    recorder.stage("scoring on the golden set and the hold-out", start=85, end=95)
    predicted, golden_metrics = score(model, data.golden)
    _, holdout_metrics = score(model, data.holdout)
    active, active_model, active_problem = _active_model()
    active_predicted: list[str] | None = None
    active_metrics: dict[str, Any] = {}
    if active_model is not None:
        active_predicted, active_golden = score(active_model, data.golden)
        active_metrics = {
            "version": active.version if active else None,
            "golden": active_golden,
            "holdout": score(active_model, data.holdout)[1],
        }
    elif active_problem:
        recorder.say(active_problem)
    metrics: dict[str, Any] = {
        # The figures the admin lists: the golden set's.
        "accuracy": golden_metrics.get("accuracy"),
        "macro_f1": golden_metrics.get("macro_f1"),
        "golden": {**golden_metrics, "version": data.snapshot["golden"]["version"]},
        "holdout": holdout_metrics,
        "n_train": len(data.train),
        "n_held_out": len(data.holdout),
        "train_seconds": model.info.get("train_seconds"),
    }
    recorder.metrics(
        {"primary": "macro_f1", "candidate": metrics, "active": active_metrics}
    )
    recorder.stage("registering", start=95, end=100)
    with tempfile.TemporaryDirectory() as directory:
        model.save(Path(directory))
        version = registry.register(
            kind=ModelVersion.Kind.INTENT,
            source_dir=Path(directory),
            metrics=metrics,
            trained_on=data.snapshot,
        )
    recorder.say(f"registered {version}")
    verdict = promotion.judge_classification(
        gold=[e.label for e in data.golden],
        candidate=predicted,
        active=active_predicted,
        oos_label=OUT_OF_SCOPE,
        min_support=int(settings.PROMOTION_MIN_SUPPORT),
        max_recall_drop=int(settings.PROMOTION_MAX_RECALL_DROP) / 100,
    )
    if active_problem and verdict.promote:
        verdict = promotion.Verdict(
            True, f"{verdict.reason} ({active_problem})", verdict.details
        )
    if force and not verdict.promote:
        verdict = promotion.Verdict(
            True, f"forced by the operator over: {verdict.reason}", verdict.details
        )
    if promote or force:
        promoted = promotion.apply(verdict, candidate=version, run=recorder.run)
        recorder.say(("promoted: " if promoted else "rejected: ") + recorder.run.reason)
    else:
        version.metrics["verdict"] = {"promoted": False, "reason": verdict.reason}
        version.save(update_fields=["metrics"])
        recorder.run.version = version
        recorder.run.reason = (
            f"not activated (not asked to); the rule says: {verdict.reason}"
        )[:300]
        recorder.run.save(update_fields=["version", "reason"])
        recorder.say(recorder.run.reason)
    return version


# -- input validation -------------------------------------------------------------


def _check_examples(
    texts: Sequence[str], labels: Sequence[str], *, what: str
) -> tuple[list[str], list[str]]:
    if isinstance(texts, str) or isinstance(labels, str):
        raise ValueError(f"{what}: texts and labels must be lists, not strings")
    texts, labels = list(texts), list(labels)
    if not texts:
        raise ValueError(f"{what}: no examples")
    if len(texts) != len(labels):
        raise ValueError(
            f"{what}: {len(texts)} texts but {len(labels)} labels; they must pair up"
        )
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{what}: example {i} has an empty text")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"{what}: example {i} has an empty label")
    return texts, labels


def _stratified_split(
    labels: list[str], *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): ``fraction`` of every label with at least 2 examples."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    train_idx: list[int] = []
    val_idx: list[int] = []
    for label in sorted(by_label):
        idx = rng.permutation(by_label[label]).tolist()
        # A label with one example stays in training: the model must know it.
        n_val = round(len(idx) * fraction) if len(idx) >= 2 else 0
        if len(idx) >= 2 and n_val == 0 and fraction > 0:
            n_val = 1
        n_val = min(n_val, len(idx) - 1)  # and so does one example of every label
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    return np.array(sorted(train_idx)), np.array(sorted(val_idx))


# -- training ---------------------------------------------------------------------


def _fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """Temperature minimizing validation NLL (Guo et al. 2017)."""
    import torch  # torch loads late: the Celery tasks import this module

    z = torch.from_numpy(logits.astype(np.float64))
    y = torch.from_numpy(targets.astype(np.int64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    # A degenerate validation set (all correct, tiny) can push T to extremes.
    return float(min(max(t, 0.05), 20.0)) if math.isfinite(t) else 1.0


def _choose_threshold(
    *,
    score: np.ndarray,
    correct: np.ndarray,
    is_oos: np.ndarray,
    config: TrainConfig,
) -> tuple[float, dict[str, float]]:
    """Pick the OOS threshold on validation data.

    With oos rows: maximize in-scope accuracy + oos recall among thresholds that cost
    at most ``max_in_scope_drop`` in-scope accuracy. Without: flag the
    ``no_oos_rejection_rate`` least confident in-scope messages.
    """
    in_scope = ~is_oos
    base_acc = float(correct[in_scope].mean()) if in_scope.any() else 0.0
    if not is_oos.any():
        rate = config.no_oos_rejection_rate
        threshold = float(np.quantile(score[in_scope], rate)) if rate > 0 else 0.0
        flagged = score < threshold
        return threshold, {
            "in_scope_accuracy": float((correct & ~flagged)[in_scope].mean()),
            "in_scope_rejection": float(flagged[in_scope].mean()),
        }
    candidates = np.concatenate([[0.0], np.unique(score)])
    best = (-1.0, 0.0, base_acc, 0.0)
    for threshold in candidates:
        flagged = score < threshold
        acc = float((correct & ~flagged)[in_scope].mean()) if in_scope.any() else 1.0
        recall = float(flagged[is_oos].mean())
        if acc < base_acc - config.max_in_scope_drop:
            continue
        if acc + recall > best[0]:
            best = (acc + recall, float(threshold), acc, recall)
    # The midpoint to the next score generalizes better than the exact val score.
    threshold = best[1]
    above = candidates[candidates > threshold]
    if threshold > 0 and above.size:
        threshold = float((threshold + above[0]) / 2)
    return threshold, {"in_scope_accuracy": best[2], "oos_recall": best[3]}


def fit_intent_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    val_texts: Sequence[str] | None = None,
    val_labels: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
    seed: int = 0,
    config: TrainConfig | None = None,
    encoder_path: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> IntentModel:
    """Train an intent classifier with calibrated confidences and OOS detection.

    Args:
        texts: training utterances.
        labels: their intents; :data:`OOS_LABEL` rows (optional) teach the model
            what is out of scope.
        val_texts: validation utterances for temperature and threshold tuning;
            when ``None``, each member ``i`` holds out its own stratified
            ``config.val_fraction`` of the training data (seed ``seed + i``).
        val_labels: their intents (may include :data:`OOS_LABEL`).
        progress: called as ``progress(done, total)`` after every step, e.g. to
            advance a tqdm bar.
        seed: seed for the split; member ``i`` initializes and shuffles with
            ``seed + i``.
        config: hyper-parameters; defaults to :class:`TrainConfig`.
        encoder_path: base encoder folder (default: the shared encoder's).
        **overrides: fields of :class:`TrainConfig` to override.

    Returns:
        The trained :class:`IntentModel`.

    Raises:
        ValueError: empty or mismatched data, fewer than two in-scope intents, or
            validation labels the training data never shows.
    """
    config = copy.deepcopy(config) if config is not None else TrainConfig()
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown training option {key!r}")
        setattr(config, key, value)
    config.__post_init__()
    texts, labels = _check_examples(texts, labels, what="training data")
    intents = sorted(set(labels) - {OOS_LABEL})
    if len(intents) < 2:
        raise ValueError(
            f"training data has {len(intents)} in-scope intent(s); at least 2 are "
            "needed to train a classifier"
        )
    if (val_texts is None) != (val_labels is None):
        raise ValueError("give both val_texts and val_labels, or neither")
    members = config.members
    if val_texts is not None and val_labels is not None:
        pool_texts, pool_labels = _check_examples(
            val_texts, val_labels, what="validation data"
        )
        unknown = sorted(set(pool_labels) - set(labels) - {OOS_LABEL})
        if unknown:
            raise ValueError(
                "validation data has intents the training data never shows: "
                f"{unknown[:5]}"
            )
        everything = np.arange(len(texts))
        splits = [(everything, np.arange(len(pool_texts)))] * members
    else:
        # Each member holds out its own split (seed + i): its temperature is fitted
        # on data it never saw, and together the members train on all the data.
        pool_texts, pool_labels = texts, labels
        splits = [
            _stratified_split(labels, fraction=config.val_fraction, seed=seed + i)
            for i in range(members)
        ]
    all_labels = sorted(set(labels))
    index = {label: i for i, label in enumerate(all_labels)}
    y = np.array([index[label] for label in labels], dtype=np.int64)

    finetune = config.finetune_epochs > 0
    epochs = config.finetune_epochs if finetune else config.head_epochs
    total = 1 + sum(
        epochs * math.ceil(len(train) / config.batch_size) for train, _ in splits
    )
    steps_done = 0

    def step_done() -> None:
        nonlocal steps_done
        steps_done += 1
        if progress is not None:
            progress(steps_done, total)

    started = time.monotonic()
    nets: list[IntentNet] = []
    member_steps: list[int] = []
    stopped_early = False
    for member, (train, _) in enumerate(splits):
        budget = None
        if config.time_budget_s:
            left = config.time_budget_s - (time.monotonic() - started)
            budget = max(left, 0.0) / (members - member)
        net, cut_short = _train_member(
            [texts[i] for i in train],
            y[train],
            n_classes=len(all_labels),
            config=config,
            seed=seed + member,
            budget_s=budget,
            encoder_path=encoder_path,
            on_step=step_done,
        )
        nets.append(net)
        member_steps.append(steps_done - sum(member_steps))
        stopped_early |= cut_short
    train_seconds = time.monotonic() - started

    model = IntentModel(
        nets=nets,
        labels=all_labels,
        config=config,
        calibration=Calibration(),
        finetuned=finetune,
    )
    n_val = _calibrate(model, pool_texts, pool_labels, [held for _, held in splits])
    model.info = {
        "n_train": len(splits[0][0]),
        "n_val": n_val,
        "val_carved": val_texts is None,
        "train_seconds": round(train_seconds, 1),
        "stopped_early": stopped_early,
        "seed": seed,
        "members": members,
        "steps": steps_done,
        "member_steps": member_steps,
    }
    if progress is not None:
        progress(total, total)
    return model


def _train_member(
    texts: list[str],
    y: np.ndarray,
    *,
    n_classes: int,
    config: TrainConfig,
    seed: int,
    budget_s: float | None,
    encoder_path: str | os.PathLike[str] | None,
    on_step: Callable[[], None],
) -> tuple[IntentNet, bool]:
    """Train one encoder + head; returns it and whether the budget cut it short."""
    import torch  # torch loads late: the Celery tasks import this module

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    finetune = config.finetune_epochs > 0
    transformer, tokenizer = base_transformer(encoder_path, copy_weights=finetune)
    net = IntentNet(
        transformer=transformer,
        tokenizer=tokenizer,
        n_classes=n_classes,
        layers=config.layers,
        feature_scale=config.feature_scale,
        max_length=config.max_length,
    )
    started = time.monotonic()
    deadline = started + budget_s if budget_s is not None else None
    n_batches = math.ceil(len(texts) / config.batch_size)
    epochs = config.finetune_epochs if finetune else config.head_epochs
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    target = torch.from_numpy(y)

    if finetune:
        params = [
            {"params": net.transformer.parameters(), "lr": config.encoder_lr},
            {"params": net.head.parameters(), "lr": config.head_lr},
        ]
    else:
        params = [{"params": net.head.parameters(), "lr": config.head_lr}]
        cached = torch.from_numpy(net.batched_features(texts))
    optimizer = torch.optim.AdamW(params, weight_decay=config.weight_decay)
    steps = epochs * n_batches
    warmup = max(1, int(config.warmup_fraction * steps))

    def lr_factor(step: int) -> float:
        # Linear warm-up, then linear decay to 0 at whichever comes first: the last
        # step or the time budget. Decaying on elapsed time means a run cut short by
        # the budget (a slow or busy machine) still ends with a small learning rate,
        # instead of stopping mid-schedule at a high one.
        progress_done = step / steps
        if budget_s:
            progress_done = max(progress_done, (time.monotonic() - started) / budget_s)
        return min(1.0, (step + 1) / warmup) * max(0.0, 1.0 - progress_done)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    lengths = np.array([len(t) for t in texts])
    for _epoch in range(epochs):
        net.train(True)
        if not finetune:
            net.transformer.eval()
        for batch in _length_bucketed_batches(lengths, config.batch_size, rng):
            if finetune:
                feats = net.features([texts[i] for i in batch])
            else:
                feats = cached[batch]
            loss = loss_fn(net.logits_from_features(feats), target[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            on_step()
            if deadline is not None and time.monotonic() > deadline:
                net.train(False)
                return net, True
    net.train(False)
    return net, False


def _calibrate(
    model: IntentModel,
    texts: list[str],
    labels: list[str],
    held_out: list[np.ndarray],
) -> int:
    """Fit each member's temperature and the OOS threshold on validation data.

    Args:
        model: the trained model (calibrated in place).
        texts: the validation pool.
        labels: its labels.
        held_out: per member, the pool rows it never trained on.

    Returns:
        How many pool rows were scored.

    Each member's temperature is fitted on its own held-out rows. The threshold is
    chosen on out-of-bag probabilities, as in bagging: a row's probabilities are
    averaged over the members that never saw it, so with a shared validation set
    they are exactly what the model serves.
    """
    n_labels = len(model.labels)
    index = {label: i for i, label in enumerate(model.labels)}
    targets = np.array([index.get(label, -1) for label in labels])
    sums = np.zeros((len(texts), n_labels))
    counts = np.zeros(len(texts))
    temperatures = []
    for net, rows in zip(model._nets, held_out, strict=True):
        if rows.size == 0:
            temperatures.append(1.0)
            continue
        logits = net.head_logits(net.batched_features([texts[i] for i in rows]))
        # A validation oos row is unknown to a model trained without an oos class.
        known = targets[rows] >= 0
        t = 1.0
        if known.any():
            t = _fit_temperature(logits[known], targets[rows][known])
        temperatures.append(t)
        sums[rows] += softmax(logits / t)
        counts[rows] += 1
    model.calibration.temperatures = temperatures
    scored = counts > 0
    if not scored.any():
        return 0
    probs = (sums[scored] / counts[scored, None])[:, model._in_scope]
    score = probs.max(axis=1)
    intents = model.intents
    predicted = np.array([intents[i] for i in probs.argmax(axis=1)])
    gold = np.array(labels)[scored]
    is_oos = gold == OOS_LABEL
    correct = predicted == gold
    threshold, metrics = _choose_threshold(
        score=score, correct=correct, is_oos=is_oos, config=model.config
    )
    model.calibration.threshold = threshold
    model.calibration.val_metrics = {
        "top1_accuracy": float(correct[~is_oos].mean()) if (~is_oos).any() else 0.0,
        **metrics,
    }
    return int(scored.sum())


def _length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts.

    On CPU the cost of a batch grows with its longest text, so sorting within pools
    of 50 batches roughly halves padding while keeping batches random.
    """
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
