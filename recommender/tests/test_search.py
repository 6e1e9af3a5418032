"""Reading constraints from a message: adversarial input stays cheap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.search import parse_constraints

# Shapes that make a backtracking price pattern try every start position and give
# digits back one by one at each. With the old pattern 4,000 digits took 2.2 s of
# CPU and the time grew with the square: 40,000 took minutes.
ADVERSARIAL = {
    "digits": "1" * 40_000,
    "digits_and_spaces": "1 " * 20_000,
    "digits_and_dashes": "1-" * 20_000,
    "digits_and_dots": "1." * 20_000,
    "digits_then_spaces": "1" + " " * 40_000 + "x",
    "dollars": "$1 " * 13_000,
    "after_under": "under " + "1" * 40_000,
    "ranges": "1 to " * 8_000,
}
# Linear work on 40,000 characters is a few milliseconds on any machine (the child
# spends a second or two starting Django); the quadratic kind is minutes per input.
# The bound only separates the two.
BOUND_SECONDS = 60
PARSE_EACH = """
import json, sys, django
django.setup()
from recommender.search import parse_constraints
for name, text in json.load(sys.stdin).items():
    parse_constraints(text)
    print(name, flush=True)
"""


def test_it_reads_40000_adversarial_characters_in_linear_time():
    # In a child process, so that a pattern that backtracks for minutes fails this
    # test cleanly: a regex loop in C can't be interrupted in this process, and a
    # fork of it may inherit a lock another thread held.
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", **os.environ}
    try:
        child = subprocess.run(
            [sys.executable, "-c", PARSE_EACH],
            input=json.dumps(ADVERSARIAL),
            capture_output=True,
            text=True,
            timeout=BOUND_SECONDS,
            cwd=Path(__file__).resolve().parents[2],
            env=env,
        )
    except subprocess.TimeoutExpired as slow:
        out = slow.stdout or ""
        done = out.decode() if isinstance(out, bytes) else out
        pytest.fail(f"over {BOUND_SECONDS} s; parsed only: {done.split()}")
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == list(ADVERSARIAL)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("between 10 and 20", "10", "20"),
        ("10-20 dollars", "10", "20"),
        ("$10 - $25.", "10", "25"),
        ("from 5.50 to 9.99", "5.50", "9.99"),
    ],
)
def test_it_still_reads_price_ranges(text, low, high):
    found = parse_constraints(text)
    assert (str(found.min_price), str(found.max_price)) == (low, high)
