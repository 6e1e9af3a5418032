"""What answers are made of, without a database: policy questions told from
requests, articles cut into sections, shop settings filled in, tracking links, and
the demo help centre's links to the intents it answers."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from chatbot.dialogue import shop as shop_settings
from chatbot.dialogue.articles import fill_shop, sections
from chatbot.dialogue.policy import answers_from_help_centre
from chatbot.dialogue.questions import asks_about_policy, elapsed_days
from chatbot.dialogue.shipping import details, tracking_url
from chatbot.models import Order

ORDER_NUMBER = re.compile(r"NW-\d{5}", re.IGNORECASE)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text",
    [
        "Can I still return something I bought three weeks ago?",
        "how long do I have to send stuff back",
        "what's your return policy",
        "whats ur return policy?",
        "can I cancel after it shipped?",
        "is it too late to cancel",
        "my order hasnt shipped yet can i still cancel it",
        "how do I return something",
        "do I have 30 days to return or is it 14",
        "i got a gift that doesnt fit, can i return it without the receipt",
        "how long do refunds usually take",
        "why did i only get a partial refund",
    ],
)
def test_a_question_about_what_is_allowed_asks_about_the_policy(text):
    assert asks_about_policy(text, order_number=ORDER_NUMBER)


@pytest.mark.parametrize(
    "text",
    [
        "I want to return NW-10235",
        "can I return NW-10235?",
        "I'd like to return the shoes from NW-10235",
        "please cancel order NW-10238",
        "cancel my order",
        "I want to cancel my order",
        "can you cancel my order",
        "can u cancel my order pls",
        "i need to return a jacket",
        "want to return my boots",
        "return",
        "Start a return",
    ],
)
def test_a_request_or_a_named_order_asks_for_the_action(text):
    assert not asks_about_policy(text, order_number=ORDER_NUMBER)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("bought it three weeks ago", 21),
        ("got them 2 months ago", 60),
        ("a week ago", 7),
        ("ordered 10 days back", 10),
        ("it came yesterday", 1),
        ("can I return my jacket", None),
    ],
)
def test_it_reads_how_long_ago_the_customer_says(text, days):
    assert elapsed_days(text) == days


def test_a_long_article_is_cut_at_paragraphs_keeping_lists_with_their_lead():
    body = """Please contact us within 30 days of delivery, with the details below
and any photos you have of the problem:

- your order number
- photos of the damage

We'll then send you a replacement at no cost, or a full refund including the
original shipping cost, whichever you prefer.

If we need the item back, we'll email you a free return label. Often you won't
need to send anything back at all, and you keep the item."""
    parts = sections(body)
    assert [p.text.splitlines()[0][:20] for p in parts] == [
        "Please contact us wi",
        "We'll then send you ",
        "If we need the item ",
    ]
    assert "- photos of the damage" in parts[0].text


def test_headings_title_the_sections_they_start():
    body = """## Returns
You can return items within 30 days of delivery. They need to be unused, with
their tags, and in the original packaging where there is one.

Refunds follow within 5-10 business days of the parcel reaching us.

## Exchanges
Exchanges for another size are free. Start one in your account under Orders,
or ask in the chat with your order number and email."""
    parts = sections(body)
    assert [p.heading for p in parts] == ["Returns", "Exchanges"]
    assert "Refunds follow" in parts[0].text


def test_a_short_article_is_one_section():
    assert len(sections("Short.\n\nAnd sweet.")) == 1


def test_placeholders_take_the_shops_settings_in_its_currency():
    shop = shop_settings.Shop(
        currency="GBP",
        free_shipping_threshold=Decimal("40"),
        return_window_days=28,
        opening_hours={"mon": "09:00-17:00"},
        timezone="Europe/London",
    )
    text = fill_shop(
        "Free over {shop.free_shipping_threshold}; returns within "
        "{shop.return_window_days} days; we answer {shop.hours}. {shop.unknown}",
        shop,
    )
    assert text == (
        "Free over £40; returns within 28 days; we answer Mon 09:00-17:00 "
        "(Europe/London). {shop.unknown}"
    )


@pytest.mark.parametrize(
    ("carrier", "url"),
    [
        ("UPS", "https://www.ups.com/track?tracknum=1Z9"),
        ("usps", "https://tools.usps.com/go/TrackConfirmAction?tLabels=1Z9"),
        ("FedEx", "https://www.fedex.com/fedextrack/?trknbr=1Z9"),
        ("DHL", "https://www.dhl.com/global-en/home/tracking.html?tracking-id=1Z9"),
        (
            "Royal Mail",
            "https://www.royalmail.com/track-your-item#/tracking-results/1Z9",
        ),
        ("Pigeon Post", None),
    ],
)
def test_carriers_have_tracking_links(carrier, url):
    assert tracking_url(carrier, "1Z9") == url


def test_a_shipped_order_says_carrier_link_and_date_and_a_strange_carrier_no_link():
    shipped = Order(
        status="shipped", carrier="FedEx", tracking_number="7712", eta=date(2026, 6, 17)
    )
    assert details(shipped) == (
        "It's on its way with FedEx, tracking number 7712: "
        "https://www.fedex.com/fedextrack/?trknbr=7712. "
        "Expected delivery: Wednesday, June 17."
    )
    local = Order(status="shipped", carrier="Pigeon Post", tracking_number="P1")
    assert details(local).startswith("It's on its way with Pigeon Post, tracking ")
    assert "http" not in details(local)


def demo_intents() -> set[str]:
    data = yaml.safe_load((ROOT / "classifier/demo/intents.yaml").read_text())
    return {intent["name"] for intent in data["intents"]}


def test_every_intent_answered_from_the_demo_help_centre_has_an_article():
    data = yaml.safe_load((ROOT / "chatbot/demo/articles.yaml").read_text())
    linked = {name for article in data["articles"] for name in article["intents"]}
    answered = {name for name in demo_intents() if answers_from_help_centre(name)}
    assert answered - linked == set()
    assert linked - demo_intents() == set()  # no link to an intent that isn't there
