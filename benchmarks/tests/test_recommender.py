"""The recommender benchmark's readers, baselines and the ``evaluate_recommender``
command, on tiny files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from benchmarks.recommender import popularity_scorer, read_interactions, read_items
from recommender.tests.conftest import GROUPS

PER_GROUP = 8


def write_items(path: Path) -> Path:
    lines = []
    for group in GROUPS:
        for i in range(PER_GROUP):
            lines.append(
                json.dumps(
                    {
                        "item": f"{group}-{i}",
                        "title": f"{group.title()} model {i}",
                        "description": f"A {group} of the {i}th kind.",
                        "brand": "Acme",
                        "categories": f"Shop, {group.title()}s",
                    }
                )
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def write_interactions(path: Path, *, extra: tuple[str, ...] = ()) -> Path:
    rng = np.random.default_rng(1)
    rows = ["user,item,position"]
    for user in range(45):
        group = GROUPS[user % len(GROUPS)]
        start = int(rng.integers(0, 3))
        for position, i in enumerate(range(start, start + int(rng.integers(3, 6)))):
            rows.append(f"u{user},{group}-{i},{position}")
    rows.extend(extra)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_popularity_ranks_by_training_counts():
    scores = popularity_scorer({"a": [0, 1], "b": [1]}, 3)([[2]])
    assert list(scores[0]) == [1.0, 2.0, 0.0]


def test_it_reads_sequences_in_position_order_and_counts_unknown_items(tmp_path):
    items = read_items(write_items(tmp_path / "items.jsonl"))
    path = tmp_path / "x.csv"
    path.write_text("user,item,position\nu,shoe-2,1\nu,ghost,2\nu,shoe-1,0\n")
    sequences, skipped = read_interactions(path, items=items)
    assert sequences == {"u": ["shoe-1", "shoe-2"]}
    assert skipped == 1
    assert items["shoe-1"].startswith("Shoe model 1. Acme. Shop, Shoes")


def test_the_command_writes_every_model_and_the_cold_start(tmp_path, encoder):
    items = write_items(tmp_path / "items.jsonl")
    interactions = write_interactions(
        tmp_path / "interactions.csv",
        extra=("u0,no-such-item,99", "u1,also-unknown,99"),
    )
    out = tmp_path / "out" / "result.json"
    call_command(
        "evaluate_recommender",
        items=str(items),
        interactions=str(interactions),
        json=str(out),
        epochs=3,
        verbosity=0,
    )
    result = json.loads(out.read_text())
    assert result["data"]["skipped_unknown_items"] == 2
    assert result["data"]["test_cases"] == 45
    for name in ("ours", "popularity", "itemknn", "als", "content"):
        row = result["summary"][name]
        assert 0.0 <= row["ndcg@10"] <= row["hr@10"] <= 1.0
    assert result["models"]["ours"]["training"]["epochs"] <= 3
    assert result["best_baseline"] in {"popularity", "itemknn", "als"}
    cold = result["cold_start"]
    assert cold["held_out_items"] == round(0.2 * len(GROUPS) * PER_GROUP)
    assert {"content", "hybrid"} <= set(cold)
    assert result["train_seconds"] >= 0.0
    assert result["models"]["ours"]["training"]["train_seconds"] > 0


@pytest.mark.parametrize(
    ("broken", "content", "error"),
    [
        (
            "interactions.csv",
            "user,item,position\nu1,shoe-1,0\nu1,shoe-2,1\nu1,shoe-3,soon\n",
            r"interactions\.csv:4: position 'soon'",
        ),
        (
            "items.jsonl",
            '{"item": "a", "title": "A"}\n{"item": "b", "title": \n',
            r"items\.jsonl:2: not JSON",
        ),
        (
            "interactions.csv",
            "user,item,position\nu1,shoe-1,0\nu1,shoe-2\n",
            r"interactions\.csv:3: expected 3 fields",
        ),
    ],
    ids=["a-malformed-position", "a-broken-item", "a-missing-column"],
)
def test_the_command_names_the_file_and_line_of_bad_input(
    tmp_path, broken, content, error
):
    items = write_items(tmp_path / "items.jsonl")
    interactions = write_interactions(tmp_path / "interactions.csv")
    (tmp_path / broken).write_text(content)
    with pytest.raises(CommandError, match=error):
        call_command(
            "evaluate_recommender",
            items=str(items),
            interactions=str(interactions),
            json=str(tmp_path / "out.json"),
            verbosity=0,
        )
    assert not (tmp_path / "out.json").exists()
