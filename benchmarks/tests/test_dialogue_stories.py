"""The dialogue stories' loader and checks, without a server."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.dialogue.stories import Seen, Shop, StoryError, check, load

STORIES = Path(__file__).resolve().parent.parent.parent / "tests" / "dialogue"
SHOP = Shop(
    {
        "JKT-001": {"sku": "JKT-001", "category": "Jackets", "stock": 24},
        "JKT-003": {"sku": "JKT-003", "category": "Jackets", "stock": 0},
        "SHO-009": {"sku": "SHO-009", "category": "Shoes", "stock": 60},
    }
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stories.yaml"
    path.write_text(text)
    return path


def card(sku: str, price: str, **extra: object) -> dict[str, object]:
    return {"sku": sku, "name": f"Product {sku}", "price": price, "currency": "USD"} | (
        extra
    )


# --- the set itself ---------------------------------------------------------------


def test_the_dialogue_set_loads_and_covers_every_failure_class() -> None:
    stories = [s for s in load([STORIES]) if s.file != "heldout.yaml"]
    heldout = load([STORIES / "heldout.yaml"])
    assert len(stories) >= 150
    assert len(heldout) >= 35
    for group in (stories, heldout):
        classes = Counter(s.failure_class for s in group)
        assert all(classes[n] for n in range(1, 8)), classes


def test_category_picks_one_category() -> None:
    handoff = load([STORIES], category="handoff")
    assert handoff
    assert {s.category for s in handoff} == {"handoff"}


# --- malformed stories ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("conversations: {}", "a list 'conversations'"),
        ("conversations:\n  - {category: x, turns: [{customer: hi}]}", "'id'"),
        ("conversations:\n  - {id: a, category: x, turns: []}", "'turns'"),
        (
            "conversations:\n  - {id: a, category: x, class: 9, "
            "turns: [{customer: hi}]}",
            "failure class from 1 to 7",
        ),
        (
            "conversations:\n  - {id: a, category: x, "
            "turns: [{customer: hi, bott: {}}]}",
            "turn 1: unknown key(s) ['bott']",
        ),
        (
            "conversations:\n  - {id: a, category: x, "
            "turns: [{customer: hi, click: b}]}",
            "exactly one of 'customer' and 'click'",
        ),
        (
            "conversations:\n  - {id: a, category: x, "
            "turns: [{customer: hi, bot: {action: dance}}]}",
            "unknown action 'dance'",
        ),
        (
            "conversations:\n  - {id: a, category: x, "
            "turns: [{customer: hi, bot: {cards: {max_price: lots}}}]}",
            "cards: max_price: expected a number",
        ),
        (
            "conversations:\n  - {id: a, category: x, turns: [{customer: hi}]}\n"
            "  - {id: a, category: y, turns: [{customer: yo}]}",
            "conversation id 'a' is also used",
        ),
        (
            "conversations:\n  - {id: a, category: x, "
            "turns: [{customer: hi, bot: {contains: ['which (?:one|of)']}}]}",
            "is not a regular expression",
        ),
        ("conversations: [\n", "not valid YAML"),
    ],
)
def test_a_malformed_story_gets_a_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(StoryError) as error:
        load([path])
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_the_error_names_the_conversation_and_turn(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "conversations:\n"
        "  - {id: fine, category: x, turns: [{customer: hi}]}\n"
        "  - id: broken\n"
        "    category: x\n"
        "    turns:\n"
        "      - customer: hi\n"
        "      - customer: again\n"
        "        bot: {status: {queue: 1}}\n",
    )
    with pytest.raises(StoryError, match=r"conversation 2 \(broken\): turn 2: bot: "):
        load([path])


# --- checks -----------------------------------------------------------------------


def test_text_checks_are_case_insensitive_with_alternatives() -> None:
    seen = Seen(text="Your parcel is with UPS, expected Friday.", payload={})
    assert check({"contains": ["ups", "arrive|expected"]}, seen, shop=SHOP) == []
    assert check({"contains": ["fedex|dhl"]}, seen, shop=SHOP) == [
        "contains: no 'fedex|dhl' in the reply"
    ]
    assert check({"not_contains": ["in the queue|ups"]}, seen, shop=SHOP) == [
        "not_contains: 'in the queue|ups' is in the reply"
    ]


def test_the_action_is_the_tagged_one_else_what_the_customer_sees() -> None:
    tagged = Seen(text="", payload={"action": "form", "cards": [card("JKT-001", "1")]})
    assert tagged.action == "form"
    assert Seen(text="", payload={"cards": [card("JKT-001", "1")]}).action == (
        "recommend"
    )
    assert Seen(text="", payload={}, handed_over=True).action == "handoff"
    assert check({"action": "answer|say"}, tagged, shop=SHOP) == [
        "action: expected answer|say, got form"
    ]


def test_card_checks_fail_over_budget_and_out_of_stock() -> None:
    seen = Seen(
        text="",
        payload={"cards": [card("JKT-001", "89.00"), card("JKT-003", "74.50")]},
    )
    failures = check(
        {"cards": {"min": 3, "max_price": 80, "in_stock": True, "category": "Jackets"}},
        seen,
        shop=SHOP,
    )
    assert failures == [
        "cards: expected at least 3, got 2",
        "cards: JKT-001 'Product JKT-001' costs 89.00, over 80",
        "cards: JKT-003 'Product JKT-003' is out of stock",
    ]
    assert (
        check({"cards": {"max_price": 90, "category": "Jackets"}}, seen, shop=SHOP)
        == []
    )


def test_card_attributes_are_read_from_the_card() -> None:
    blue = card("JKT-001", "89", attributes={"colour": "Blue", "sizes": ["S", "M"]})
    seen = Seen(text="", payload={"cards": [blue]})
    assert check({"cards": {"attributes": {"colour": "blue"}}}, seen, shop=SHOP) == []
    assert check({"cards": {"attributes": {"sizes": "M"}}}, seen, shop=SHOP) == []
    assert check({"cards": {"attributes": {"colour": "red"}}}, seen, shop=SHOP) == [
        "cards: JKT-001 'Product JKT-001' has colour 'Blue', not 'red'"
    ]


def test_cheaper_than_before_compares_with_the_cards_shown_before() -> None:
    before = [card("JKT-001", "89.00"), card("SHO-009", "49.00")]
    cheaper = Seen(text="", payload={"cards": [card("JKT-003", "74.50")]})
    same = Seen(text="", payload={"cards": [card("SHO-009", "49.00")]})
    dearer = Seen(text="", payload={"cards": [card("JKT-003", "99.00")]})
    wanted = {"cards": {"cheaper_than_before": True}}
    assert check(wanted, cheaper, shop=SHOP, before=before) == []
    assert check(wanted, same, shop=SHOP, before=before) == [
        "cheaper_than_before: the same cards as before"
    ]
    assert check(wanted, dearer, shop=SHOP, before=before)


def test_status_checks_read_the_latest_status_frame() -> None:
    offline = {"status": "waiting_for_agent", "queue_position": None}
    seen = Seen(text="", payload={}, status=offline)
    assert check({"status": {"queue_position": None}}, seen, shop=SHOP) == []
    assert check({"status": {"queue_position": "set"}}, seen, shop=SHOP) == [
        "status: queue_position expected 'set', got None"
    ]
    assert check({"status": {"status": "bot"}}, Seen("", {}), shop=SHOP) == [
        "status: no status frame"
    ]


def test_one_of_passes_when_any_option_passes() -> None:
    seen = Seen(text="Which should I answer first?", payload={})
    options = {"one_of": [{"contains": ["30 days"]}, {"contains": ["first"]}]}
    assert check(options, seen, shop=SHOP) == []
    none = {"one_of": [{"contains": ["30 days"]}, {"action": "recommend"}]}
    assert check(none, seen, shop=SHOP)[0].startswith("one_of: none matched")


def test_an_article_is_checked_by_its_slug() -> None:
    seen = Seen(text="", payload={"article": {"url": "/help/do-you-price-match/"}})
    assert check({"article": "x|do-you-price-match"}, seen, shop=SHOP) == []
    assert check({"article": "match"}, seen, shop=SHOP) == [
        "article: expected match, got /help/do-you-price-match/"
    ]


def test_about_card_wants_the_product_named_or_shown() -> None:
    before = [card("JKT-001", "89"), card("SHO-009", "49")]
    named = Seen(text="Product SHO-009 comes in sizes 6 to 12.", payload={})
    other = Seen(text="Product JKT-001 is lovely.", payload={})
    assert check({"about_card": 2}, named, shop=SHOP, before=before) == []
    assert check({"about_card": 2}, other, shop=SHOP, before=before)
