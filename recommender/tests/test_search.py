"""Reading constraints from a message: adversarial input stays cheap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from recommender.search import parse_constraints, words_to_digits

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


# How shoppers write a budget, with what it means. Prices are in the shop's currency
# (USD here) unless they name another; "around" is 20 % either side.
PHRASES = [
    ("budget 50 bucks", {"max": "50"}),
    ("fifty dollars max", {"max": "50"}),
    ("€80", {"max": "80", "currency": "EUR"}),
    ("under eighty", {"max": "80"}),
    ("running shoes under 80", {"max": "80", "cat": ["Shoes"]}),
    (
        "need a rain jacket, my budget is like 60 quid",
        {"max": "60", "currency": "GBP", "cat": ["Jackets"]},
    ),
    ("something for my dad under a hundred", {"max": "100"}),
    ("backpack no more than seventy five dollars", {"max": "75", "cat": ["Bags"]}),
    ("cheap sneakers less than $40 pls", {"max": "40", "cat": ["Shoes"]}),
    ("up to 120", {"max": "120"}),
    ("at most 35 euros", {"max": "35", "currency": "EUR"}),
    ("max £30", {"max": "30", "currency": "GBP"}),
    ("USD 40 tops", {"max": "40"}),
    ("hiking boots, 150 or less", {"max": "150", "cat": ["Shoes"]}),
    ("a tent below 200$", {"max": "200", "cat": ["Outdoor"]}),
    ("around 60 bucks", {"min": "48", "max": "72", "around": "60"}),
    ("about eighty-five dollars", {"min": "68", "max": "102", "around": "85"}),
    ("roughly 40", {"min": "32", "max": "48", "around": "40"}),
    ("gloves no less than 20", {"min": "20", "cat": ["Accessories"]}),
    (
        "a scarf for 50ish",
        {"min": "40", "max": "60", "around": "50", "cat": ["Accessories"]},
    ),
    ("between 50 and 80", {"min": "50", "max": "80"}),
    ("between fifty and a hundred dollars", {"min": "50", "max": "100"}),
    ("from 20 to 40 euros", {"min": "20", "max": "40", "currency": "EUR"}),
    ("a pan $20-$60", {"min": "20", "max": "60", "cat": ["Kitchen"]}),
    ("jackets 100 to 150", {"min": "100", "max": "150", "cat": ["Jackets"]}),
    ("headphones over $150", {"min": "150", "cat": ["Electronics"]}),
    ("at least 30 dollars", {"min": "30"}),
    ("a nice gift, 100+", {"min": "100"}),
    ("over 50 but under 90", {"min": "50", "max": "90"}),
    ("a 2 person tent under 300", {"max": "300", "cat": ["Outdoor"]}),
    ("20 l backpack under 1,200", {"max": "1200", "cat": ["Bags"]}),
    (
        "red running shoes size 42",
        {"cat": ["Shoes"], "colours": ["red"], "sizes": ["42"]},
    ),
    (
        "a navy or grey jacket in M",
        {"cat": ["Jackets"], "colours": ["navy", "grey"], "sizes": ["M"]},
    ),
    (
        "leggings in a medium, black",
        {"cat": ["Sportswear"], "colours": ["black"], "sizes": ["M"]},
    ),
    (
        "xl merino base layer",
        {"cat": ["Sportswear"], "sizes": ["XL"], "materials": ["merino"]},
    ),
    (
        "leather wallet under 70",
        {"max": "70", "cat": ["Accessories"], "materials": ["leather"]},
    ),
    (
        "a down jacket even if it's sold out",
        {"cat": ["Jackets"], "materials": ["down"], "sold_out_ok": True},
    ),
    ("boots, out of stock is fine", {"cat": ["Shoes"], "sold_out_ok": True}),
    ("is the parka in stock", {"cat": ["Jackets"]}),
    ("something nice for my mum", {}),
]


@pytest.mark.parametrize(("text", "expected"), PHRASES)
def test_it_reads_constraints_as_shoppers_write_them(text, expected):
    found = parse_constraints(text, currency="USD")
    got = {
        "min": found.min_price,
        "max": found.max_price,
        "around": found.around,
        "currency": found.currency,
        "cat": found.categories,
        "colours": found.colours,
        "sizes": found.sizes,
        "materials": found.materials,
        "sold_out_ok": found.sold_out_ok,
    }
    want = {
        "min": Decimal(expected["min"]) if "min" in expected else None,
        "max": Decimal(expected["max"]) if "max" in expected else None,
        "around": Decimal(expected["around"]) if "around" in expected else None,
        "currency": expected.get("currency", "USD"),
        "cat": expected.get("cat", []),
        "colours": expected.get("colours", []),
        "sizes": expected.get("sizes", []),
        "materials": expected.get("materials", []),
        "sold_out_ok": expected.get("sold_out_ok", False),
    }
    assert got == want
    assert found.impossible is None


def test_dollars_mean_the_shops_dollar_and_a_bare_budget_its_currency():
    assert parse_constraints("under 50 bucks", currency="CAD").currency == "CAD"
    assert parse_constraints("under 50", currency="EUR").currency == "EUR"
    assert parse_constraints("under 50", currency="EUR").describe() == "under €50"
    assert parse_constraints("under 50 dollars", currency="EUR").currency == "USD"


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("under eighty-five bucks", "under 85 bucks"),
        ("a hundred and twenty", "120"),
        ("between fifty and a hundred", "between 50 and 100"),
        ("two thousand five hundred", "2500"),
        ("the second one", "the second one"),
        ("a jacket for twenty five", "a jacket for 25"),
    ],
)
def test_it_reads_numbers_written_in_words(text, digits):
    assert words_to_digits(text) == digits
