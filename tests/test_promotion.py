"""The promotion rule, on constructed predictions (no model, no database)."""

from __future__ import annotations

import numpy as np

from ml.promotion import judge_classification, judge_ranking

INTENTS = ["order_status", "refund_status", "track_order", "greeting"]


def golden(per_intent: int = 20, oos: int = 20) -> list[str]:
    return [name for name in INTENTS for _ in range(per_intent)] + ["oos"] * oos


def predictions(gold: list[str], wrong: dict[str, int]) -> list[str]:
    """``gold`` with the first ``wrong[label]`` rows of each label mistaken."""
    seen: dict[str, int] = {}
    predicted = []
    for label in gold:
        seen[label] = seen.get(label, 0) + 1
        if seen[label] <= wrong.get(label, 0):
            # A mistake another intent absorbs (out of scope for in-scope rows).
            predicted.append("greeting" if label == "oos" else "oos")
        else:
            predicted.append(label)
    return predicted


def test_it_rejects_a_better_macro_f1_that_costs_one_intent_10_points_of_recall():
    gold = golden()
    active = predictions(
        gold, {"refund_status": 6, "track_order": 6, "greeting": 6, "oos": 2}
    )
    candidate = predictions(gold, {"order_status": 2, "oos": 2})
    verdict = judge_classification(
        gold=gold, candidate=candidate, active=active, oos_label="oos"
    )
    primary = verdict.details["primary"]
    assert primary["candidate"] > primary["active"]  # better overall…
    assert not verdict.promote  # …and still refused
    assert "order_status (-10 points)" in verdict.reason
    assert "refund_status" not in verdict.reason
    assert verdict.details["recall"]["order_status"] == {
        "candidate": 0.9,
        "active": 1.0,
    }


def test_it_promotes_a_candidate_whose_small_loss_is_within_the_noise():
    gold = golden()
    active = predictions(gold, {"refund_status": 1})
    candidate = predictions(gold, {"track_order": 1, "refund_status": 1})
    verdict = judge_classification(
        gold=gold, candidate=candidate, active=active, oos_label="oos"
    )
    assert (
        verdict.details["primary"]["candidate"] < verdict.details["primary"]["active"]
    )
    assert verdict.promote, verdict.reason


def test_it_rejects_a_candidate_worse_beyond_the_noise():
    gold = golden(per_intent=60, oos=60)
    active = predictions(gold, {})
    # Five points of recall per intent (below the per-intent rule's six), everywhere.
    candidate = predictions(gold, dict.fromkeys(INTENTS, 3))
    verdict = judge_classification(
        gold=gold, candidate=candidate, active=active, oos_label="oos"
    )
    assert not verdict.promote
    assert "worse than the active" in verdict.reason
    assert "recall dropped for" not in verdict.reason


def test_it_rejects_any_drop_in_out_of_scope_recall():
    gold = golden()
    active = predictions(gold, {"order_status": 3})
    candidate = predictions(gold, {"oos": 1})
    verdict = judge_classification(
        gold=gold, candidate=candidate, active=active, oos_label="oos"
    )
    assert not verdict.promote
    assert "out-of-scope recall dropped from 1.00 to 0.95" in verdict.reason


def test_intents_with_few_golden_examples_are_not_judged_one_by_one():
    gold = golden(per_intent=5, oos=0)
    active = predictions(gold, {})
    candidate = predictions(gold, {"greeting": 1})  # 20 points of 5 examples
    verdict = judge_classification(
        gold=gold, candidate=candidate, active=active, oos_label="oos"
    )
    assert verdict.promote, verdict.reason
    assert verdict.details["recall"] == {}


def test_the_first_version_is_promoted_when_nothing_is_active():
    gold = golden()
    verdict = judge_classification(
        gold=gold, candidate=predictions(gold, {}), active=None, oos_label="oos"
    )
    assert verdict.promote
    assert "no active version" in verdict.reason


def test_the_ranking_rule_compares_the_same_golden_cases():
    rng = np.random.default_rng(0)
    active = rng.uniform(0.3, 1.0, size=200)
    same = judge_ranking(
        candidate=list(active + rng.normal(0, 0.01, 200)), active=list(active)
    )
    assert same.promote, same.reason
    worse = judge_ranking(candidate=list(active - 0.2), active=list(active))
    assert not worse.promote
    assert "golden ndcg@10" in worse.reason and "worse than the active" in worse.reason
