"""Reading constraints from a message: adversarial input stays cheap."""

from __future__ import annotations

import multiprocessing

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
# Linear work on 40,000 characters is a few milliseconds on any machine; the
# quadratic kind is minutes. The bound only separates the two.
BOUND_SECONDS = 10


def _parse(text: str) -> None:
    parse_constraints(text)


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_it_reads_40000_adversarial_characters_in_linear_time(text):
    # In a child process, so that a pattern that backtracks for minutes fails this
    # test cleanly (a C regex loop can't be interrupted in this process).
    child = multiprocessing.get_context("fork").Process(target=_parse, args=(text,))
    child.start()
    child.join(BOUND_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"parsing {len(text)} characters took over {BOUND_SECONDS} s")
    assert child.exitcode == 0


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
