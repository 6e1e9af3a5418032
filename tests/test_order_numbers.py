"""Order numbers in several shops' formats, read from what customers type, and
never a price, a phone number, a quantity or a year taken for one."""

from __future__ import annotations

import pytest

from chatbot.dialogue import followups
from chatbot.dialogue.forms import OrderNumbers

SHOPIFY = r"#\d{4,}"
MAGENTO = r"\d{9}"
DEMO = r"NW-\d{5}"
# The more specific format first: where several lines match, the first wins.
ALL_THREE = "\n".join([MAGENTO, SHOPIFY, DEMO])


@pytest.mark.parametrize(
    ("setting", "text", "number"),
    [
        (SHOPIFY, "#1001", "#1001"),
        (SHOPIFY, "where is order #1001?", "#1001"),
        (SHOPIFY, "order 1001 hasn't arrived", "#1001"),
        (SHOPIFY, "my order number is 1001", "#1001"),
        (MAGENTO, "order 100000123", "100000123"),
        (MAGENTO, "order no: 100000123 please", "100000123"),
        (MAGENTO, "ref #100000123", "100000123"),
        (DEMO, "nw 10234", "NW-10234"),
        (DEMO, "NW10234", "NW-10234"),
        (ALL_THREE, "#1001", "#1001"),
        (ALL_THREE, "nw 10234", "NW-10234"),
        (ALL_THREE, "order 100000123", "100000123"),
        (ALL_THREE, "order #1001", "#1001"),
    ],
)
def test_it_recognises_the_shops_formats(setting, text, number):
    assert OrderNumbers.of(setting).find(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "is there anything under $100?",
        "it cost $1000 and it's broken",
        "I paid 1299 dollars",
        "call me on 5551234567",
        "my number is +1 555 123 4567",
        "I want 1001 items",
        "can I order 2000 pieces",
        "I ordered it in 2024",
        "ordered 2 pairs in 2023",
        "returns since 2019?",
        "order 1001 dollars",
    ],
)
@pytest.mark.parametrize("setting", [SHOPIFY, MAGENTO, ALL_THREE])
def test_it_takes_no_price_phone_quantity_or_year_for_an_order_number(setting, text):
    assert OrderNumbers.of(setting).find(text) is None


@pytest.mark.parametrize(
    ("setting", "text", "number"),
    [(SHOPIFY, "1001", "#1001"), (MAGENTO, "100000123", "100000123")],
)
def test_a_bare_number_answers_the_question_for_it(setting, text, number):
    numbers = OrderNumbers.of(setting)
    assert numbers.find(text) is None  # said out of the blue: not taken
    assert numbers.find(text, asked=True) == number


def test_a_number_of_another_format_is_not_the_shops():
    assert OrderNumbers.of(SHOPIFY).find("NW-10234") is None
    assert OrderNumbers.of(DEMO).find("order 100000123") is None
    assert OrderNumbers.of(DEMO).find("#1001") is None


@pytest.mark.parametrize(
    ("text", "number"),
    [("order 100000123", "100000123"), ("#1001", "#1001"), ("nw 10234", "NW-10234")],
)
def test_a_number_sent_on_its_own_is_a_value_in_every_format(text, number):
    values = followups.values_only(text, order_numbers=OrderNumbers.of(ALL_THREE))
    assert values == followups.Values(order_number=number)


def test_the_demo_format_reads_as_it_did():
    numbers = OrderNumbers.of(DEMO)
    assert numbers.find("#NW-10234") == "NW-10234"
    assert numbers.find("order no: NW#10234") == "NW-10234"
    assert numbers.find("10234") is None
    assert numbers.find("10234", asked=True) == "NW-10234"
