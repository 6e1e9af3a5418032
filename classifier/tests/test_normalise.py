"""The intent model's input: the words, without the noise around them."""

from __future__ import annotations

import pytest

from classifier.normalise import for_the_model


@pytest.mark.parametrize(
    ("pasted", "read"),
    [
        ("<p>where is my <b>order</b>?</p>", "where is my order?"),
        (
            "where is my order https://shop.example/account/orders/123?x=1 please",
            "where is my order please",
        ),
        ("www.shop.example/returns can I return this", "can I return this"),
        ("refund???!!! 😡😡", "refund?!"),
        ("hi 👋🏽 do you ship to 🇨🇦", "hi do you ship to"),
        ("Tom &amp; Jerry mug in stock?", "Tom & Jerry mug in stock?"),
        (
            "order NW-10234, email alice@example.com",
            "order NW-10234, email alice@example.com",
        ),
        ("a < b and c > d", "a < b and c > d"),
    ],
)
def test_it_reads_the_words_without_the_noise(pasted, read):
    assert for_the_model(pasted) == read


@pytest.mark.parametrize("noise", ["https://shop.example/x", "😀😀", "<br>", "!!!"])
def test_nothing_but_noise_is_read_as_it_is(noise):
    assert for_the_model(noise) == noise


def test_a_long_unclosed_tag_is_read_in_one_pass():
    text = "<" + "a" * 50_000 + " where is my order"
    assert for_the_model(text).endswith("where is my order")
