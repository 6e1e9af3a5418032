"""The evaluation protocol: leave-one-out cases and full-ranking metrics."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.metrics import Case, leave_one_out, rank_metrics


def test_leave_one_out_holds_out_the_last_two_items_in_time_order():
    split = leave_one_out({"a": [1, 2, 3, 4], "b": [5, 6], "c": [7]})
    assert split.train == {"a": [1, 2], "b": [5], "c": [7]}
    assert split.valid == [Case("a", (1, 2), 3)]
    assert split.test == [Case("a", (1, 2, 3), 4), Case("b", (5,), 6)]


def test_rank_metrics_masks_the_history_and_counts_ties_against_the_target():
    def scorer(histories):
        return np.array([[5.0, 4.0, 3.0, 3.0]] * len(histories))

    # Item 0 is in the history and masked, so item 1 ranks first.
    assert rank_metrics(scorer, [Case("u", (0,), 1)], k=1)["hr@1"] == 1.0
    # Item 2 ties with item 3: counted as second, out of the top 1.
    assert rank_metrics(scorer, [Case("u", (0, 1), 2)], k=1)["hr@1"] == 0.0
    ndcg = rank_metrics(scorer, [Case("u", (0, 1), 2)], k=2)["ndcg@2"]
    assert ndcg == pytest.approx(1 / np.log2(3))
