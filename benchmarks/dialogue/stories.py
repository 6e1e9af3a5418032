"""Dialogue stories: reading the YAML files and checking what the customer saw.

Pure data and functions, no database and no network: ``driver`` plays the stories
over a websocket and hands each bot reply to :func:`check`. The format is described
in docs/dialogue-tests.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

ACTIONS = ("answer", "form", "recommend", "clarify", "handoff", "fallback", "say")
FIRST_CLARIFICATION = "the first clarification button"
STORY_KEYS = {"id", "category", "class", "agents_online", "turns"}
TURN_KEYS = {"customer", "click", "bot"}
EXPECT_KEYS = {
    "action",
    "contains",
    "not_contains",
    "article",
    "cards",
    "quick_replies",
    "status",
    "one_of",
    "about_card",
}
CARD_KEYS = {
    "count",
    "min",
    "max",
    "max_price",
    "min_price",
    "currency",
    "in_stock",
    "category",
    "names",
    "attributes",
    "cheaper_than_before",
}
STATUS_KEYS = {"status", "queue_position", "expected_wait_seconds", "agents_online"}


class StoryError(ValueError):
    """A story file that can't be read; the message names the file and the place."""


@dataclass(frozen=True)
class Turn:
    """One customer turn: a typed text or a click, and what the bot should do."""

    customer: str | None = None
    click: str | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)

    @property
    def said(self) -> str:
        return self.customer if self.customer is not None else f"[click] {self.click}"


@dataclass(frozen=True)
class Story:
    id: str
    category: str
    turns: tuple[Turn, ...]
    failure_class: int | None = None
    agents_online: int | None = None
    file: str = ""


@dataclass
class Seen:
    """What the customer saw in answer to one turn."""

    text: str
    payload: Mapping[str, Any]
    # The conversation's latest status frame by the end of the turn.
    status: Mapping[str, Any] | None = None
    # Whether a status frame arrived during the turn saying the conversation is
    # waiting for a person (how a handoff shows without an action tag).
    handed_over: bool = False

    @property
    def cards(self) -> list[Mapping[str, Any]]:
        cards = self.payload.get("cards") or []
        return [c for c in cards if isinstance(c, Mapping)]

    @property
    def quick_replies(self) -> list[Mapping[str, Any]]:
        buttons = self.payload.get("quick_replies") or []
        return [b for b in buttons if isinstance(b, Mapping)]

    @property
    def action(self) -> str:
        """The action the bot's frame names, else the one the customer can see."""
        tagged = self.payload.get("action")
        if isinstance(tagged, str) and tagged:
            return tagged
        if self.handed_over:
            return "handoff"
        if self.cards:
            return "recommend"
        if self.payload.get("article"):
            return "answer"
        if any("intent" in (b.get("payload") or {}) for b in self.quick_replies):
            return "clarify"
        return "say"


# --- loading ------------------------------------------------------------------------


def load(paths: Iterable[Path], *, category: str | None = None) -> list[Story]:
    """Every story in ``paths`` (files or folders of ``*.yaml``), in file order.

    Raises:
        StoryError: a file is malformed, or two stories share an id.
    """
    stories: list[Story] = []
    seen: dict[str, str] = {}
    for path in expand(paths):
        for story in load_file(path):
            if story.id in seen:
                raise StoryError(
                    f"{path}: conversation id {story.id!r} is also used in "
                    f"{seen[story.id]}"
                )
            seen[story.id] = str(path)
            stories.append(story)
    if category is not None:
        stories = [s for s in stories if s.category == category]
    return stories


def expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")))
        elif path.exists():
            files.append(path)
        else:
            raise StoryError(f"{path}: no such file or folder")
    return files


def load_file(path: Path) -> list[Story]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise StoryError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list):
        raise StoryError(f"{path}: expected a mapping with a list 'conversations'")
    unknown = set(data) - {"conversations"}
    if unknown:
        raise StoryError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    return [
        parse_story(raw, where=f"{path}: conversation {i + 1}", file=path.name)
        for i, raw in enumerate(data["conversations"])
    ]


def parse_story(raw: Any, *, where: str, file: str = "") -> Story:
    if not isinstance(raw, dict):
        raise StoryError(f"{where}: expected a mapping")
    story_id = raw.get("id")
    if not isinstance(story_id, str) or not story_id.strip():
        raise StoryError(f"{where}: 'id' must be a non-empty string")
    where = f"{where} ({story_id})"
    _known(raw, STORY_KEYS, where)
    category = raw.get("category")
    if not isinstance(category, str) or not category.strip():
        raise StoryError(f"{where}: 'category' must be a non-empty string")
    failure_class = raw.get("class")
    if failure_class is not None and (
        not isinstance(failure_class, int) or not 1 <= failure_class <= 7
    ):
        raise StoryError(f"{where}: 'class' must be a failure class from 1 to 7")
    agents = raw.get("agents_online")
    if agents is not None and (
        not isinstance(agents, int) or isinstance(agents, bool) or agents < 0
    ):
        raise StoryError(f"{where}: 'agents_online' must be a whole number >= 0")
    turns = raw.get("turns")
    if not isinstance(turns, list) or not turns:
        raise StoryError(f"{where}: 'turns' must be a non-empty list")
    return Story(
        id=story_id,
        category=category,
        failure_class=failure_class,
        agents_online=agents,
        turns=tuple(
            parse_turn(t, where=f"{where}: turn {n + 1}") for n, t in enumerate(turns)
        ),
        file=file,
    )


def parse_turn(raw: Any, *, where: str) -> Turn:
    if not isinstance(raw, dict):
        raise StoryError(f"{where}: expected a mapping with 'customer' or 'click'")
    _known(raw, TURN_KEYS, where)
    said = [k for k in ("customer", "click") if k in raw]
    if len(said) != 1:
        raise StoryError(f"{where}: give exactly one of 'customer' and 'click'")
    value = raw[said[0]]
    if not isinstance(value, str) or not value.strip():
        raise StoryError(f"{where}: '{said[0]}' must be a non-empty string")
    expect = raw.get("bot") or {}
    parse_expect(expect, where=f"{where}: bot")
    return Turn(**{said[0]: value}, expect=expect)


def parse_expect(raw: Any, *, where: str) -> None:
    """Check an expectation's shape; it is kept as the plain mapping it is."""
    if not isinstance(raw, dict):
        raise StoryError(f"{where}: expected a mapping of checks")
    _known(raw, EXPECT_KEYS, where)
    if "action" in raw:
        for action in _alternatives(raw["action"], where=f"{where}: action"):
            if action not in ACTIONS:
                raise StoryError(
                    f"{where}: unknown action {action!r} (one of {', '.join(ACTIONS)})"
                )
    for key in ("contains", "not_contains", "quick_replies"):
        if key in raw:
            _texts(raw[key], where=f"{where}: {key}")
    if "article" in raw:
        _alternatives(raw["article"], where=f"{where}: article")
    if "cards" in raw:
        cards = raw["cards"]
        if not isinstance(cards, dict):
            raise StoryError(f"{where}: cards: expected a mapping of card checks")
        _known(cards, CARD_KEYS, f"{where}: cards")
        for key in ("count", "min", "max"):
            if key in cards and (not isinstance(cards[key], int) or cards[key] < 0):
                raise StoryError(f"{where}: cards: {key} must be a whole number")
        for key in ("max_price", "min_price"):
            if key in cards:
                _price(cards[key], where=f"{where}: cards: {key}")
        if "attributes" in cards and not isinstance(cards["attributes"], dict):
            raise StoryError(f"{where}: cards: attributes must be a mapping")
        for key in ("category", "names"):
            if key in cards:
                _patterns(cards[key], where=f"{where}: cards: {key}")
    if "status" in raw:
        status = raw["status"]
        if not isinstance(status, dict) or not status:
            raise StoryError(f"{where}: status: expected a mapping of frame fields")
        _known(status, STATUS_KEYS, f"{where}: status")
    if "about_card" in raw and (
        not isinstance(raw["about_card"], int) or raw["about_card"] < 1
    ):
        raise StoryError(f"{where}: about_card: expected a card number from 1")
    if "one_of" in raw:
        options = raw["one_of"]
        if not isinstance(options, list) or len(options) < 2:
            raise StoryError(f"{where}: one_of: expected a list of 2 or more checks")
        for n, option in enumerate(options):
            parse_expect(option, where=f"{where}: one_of {n + 1}")


def _known(raw: Mapping[str, Any], keys: set[str], where: str) -> None:
    unknown = set(raw) - keys
    if unknown:
        raise StoryError(
            f"{where}: unknown key(s) {sorted(unknown)} (expected some of "
            f"{sorted(keys)})"
        )


def _alternatives(value: Any, *, where: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise StoryError(f"{where}: expected a string (alternatives split by '|')")
    return [part.strip() for part in value.split("|")]


def _texts(value: Any, *, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise StoryError(f"{where}: expected a string or a list of strings")
    for item in items:
        _patterns(item, where=where)
    return list(items)


def _patterns(value: Any, *, where: str) -> list[str]:
    """Alternatives that are each a regular expression (so no ``|`` inside one)."""
    parts = _alternatives(value, where=where)
    for part in parts:
        try:
            re.compile(part)
        except re.error as error:
            raise StoryError(
                f"{where}: {part!r} is not a regular expression ({error}); "
                "alternatives are split at every '|', so don't use one inside"
            ) from None
    return parts


def _price(value: Any, *, where: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise StoryError(f"{where}: expected a number, got {value!r}") from None


# --- checking -----------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """What the checks know about the shop's catalog, by sku."""

    products: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_catalog(cls, path: Path) -> Shop:
        products = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                products[row["sku"]] = row
        return cls(products)


def check(
    expect: Mapping[str, Any],
    seen: Seen,
    *,
    shop: Shop,
    before: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """What in ``seen`` does not meet ``expect``: one line per failed check.

    ``before``: the cards the previous turn showed (for ``cheaper_than_before``).
    """
    failures: list[str] = []
    if "one_of" in expect:
        options = [
            check(option, seen, shop=shop, before=before) for option in expect["one_of"]
        ]
        if all(options):
            failures.append(
                "one_of: none matched ("
                + "; ".join(" & ".join(o) for o in options)
                + ")"
            )
    if "action" in expect:
        wanted = _alternatives(expect["action"], where="action")
        if seen.action not in wanted:
            failures.append(f"action: expected {expect['action']}, got {seen.action}")
    for item in _listed(expect.get("contains")):
        if not _matches(item, seen.text):
            failures.append(f"contains: no {item!r} in the reply")
    for item in _listed(expect.get("not_contains")):
        if _matches(item, seen.text):
            failures.append(f"not_contains: {item!r} is in the reply")
    if "article" in expect:
        failures += _check_article(expect["article"], seen)
    if "cards" in expect:
        failures += _check_cards(expect["cards"], seen, shop=shop, before=before)
    for item in _listed(expect.get("quick_replies")):
        titles = [str(b.get("title", "")) for b in seen.quick_replies]
        if not any(_matches(item, title) for title in titles):
            failures.append(f"quick_replies: no {item!r} among {titles}")
    if "status" in expect:
        failures += _check_status(expect["status"], seen.status)
    if "about_card" in expect:
        failures += _check_about_card(expect["about_card"], seen, before)
    return failures


def _check_about_card(
    n: int, seen: Seen, before: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The reply is about the n-th card shown before: it names the product, or
    shows that product first."""
    if len(before) < n:
        return [f"about_card: the turn before showed {len(before)} card(s), not {n}"]
    card = before[n - 1]
    name = str(card.get("name", ""))
    names = {name, name.split(" — ")[0], name.split(",")[0]}
    if any(part and part.casefold() in seen.text.casefold() for part in names):
        return []
    if seen.cards and seen.cards[0].get("sku") == card.get("sku"):
        return []
    return [f"about_card: the reply is not about card {n} ({name!r})"]


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _matches(alternatives: str, text: str) -> bool:
    """Whether ``text`` holds one of the ``|``-separated alternatives.

    Each alternative is a case-insensitive regular expression; plain words and
    phrases match themselves.
    """
    return any(
        re.search(part.strip(), text, flags=re.IGNORECASE)
        for part in alternatives.split("|")
        if part.strip()
    )


def _check_article(wanted: str, seen: Seen) -> list[str]:
    article = seen.payload.get("article")
    if not isinstance(article, Mapping):
        return [f"article: expected {wanted}, the reply cites none"]
    url = str(article.get("url", ""))
    slugs = _alternatives(wanted, where="article")
    if any(url.rstrip("/").endswith(f"/{slug}") for slug in slugs):
        return []
    return [f"article: expected {wanted}, got {url or article}"]


def _check_cards(
    wanted: Mapping[str, Any],
    seen: Seen,
    *,
    shop: Shop,
    before: Sequence[Mapping[str, Any]],
) -> list[str]:
    cards = seen.cards
    n = len(cards)
    failures = []
    if "count" in wanted and n != wanted["count"]:
        failures.append(f"cards: expected {wanted['count']}, got {n}")
    if "min" in wanted and n < wanted["min"]:
        failures.append(f"cards: expected at least {wanted['min']}, got {n}")
    if "max" in wanted and n > wanted["max"]:
        failures.append(f"cards: expected at most {wanted['max']}, got {n}")
    for card in cards:
        label = f"{card.get('sku')} {card.get('name')!r}"
        price = _card_price(card)
        product = shop.products.get(str(card.get("sku")), {})
        if "max_price" in wanted and (
            price is None or price > Decimal(str(wanted["max_price"]))
        ):
            failures.append(f"cards: {label} costs {price}, over {wanted['max_price']}")
        if "min_price" in wanted and (
            price is None or price < Decimal(str(wanted["min_price"]))
        ):
            failures.append(
                f"cards: {label} costs {price}, under {wanted['min_price']}"
            )
        if "currency" in wanted and card.get("currency") != wanted["currency"]:
            failures.append(f"cards: {label} is in {card.get('currency')}")
        if wanted.get("in_stock") and not _in_stock(card, product):
            failures.append(f"cards: {label} is out of stock")
        if "category" in wanted:
            category = str(product.get("category", ""))
            if not _matches(f"^(?:{wanted['category']})$", category):
                failures.append(f"cards: {label} is in {category or 'no category'}")
        if "names" in wanted and not _matches(wanted["names"], str(card.get("name"))):
            failures.append(f"cards: {label} is not one of {wanted['names']!r}")
        for attribute, value in (wanted.get("attributes") or {}).items():
            have = _attribute(card, product, attribute)
            if not _attribute_matches(have, value):
                failures.append(
                    f"cards: {label} has {attribute} {have!r}, not {value!r}"
                )
    if wanted.get("cheaper_than_before"):
        failures += _check_cheaper(cards, before)
    return failures


def _card_price(card: Mapping[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(card.get("price")))
    except InvalidOperation:
        return None


def _in_stock(card: Mapping[str, Any], product: Mapping[str, Any]) -> bool:
    # The card may say itself; otherwise the catalog's stock count decides.
    for key in ("in_stock", "available"):
        if key in card:
            return bool(card[key])
    if "stock" in card:
        return bool(card["stock"])
    return bool(product.get("stock", 0))


def _attribute(card: Mapping[str, Any], product: Mapping[str, Any], name: str) -> Any:
    for source in (card.get("attributes"), product.get("attributes")):
        if isinstance(source, Mapping) and name in source:
            return source[name]
    return None


def _attribute_matches(have: Any, wanted: Any) -> bool:
    values = have if isinstance(have, list) else [have]
    return any(v is not None and _matches(f"^(?:{wanted})$", str(v)) for v in values)


def _check_cheaper(
    cards: Sequence[Mapping[str, Any]], before: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Cheaper than before: every card costs less than the dearest card shown the
    turn before, and the cards are not the same ones again."""
    old = [p for p in map(_card_price, before) if p is not None]
    if not old:
        return ["cheaper_than_before: the turn before showed no cards"]
    if not cards:
        return ["cheaper_than_before: no cards"]
    failures = []
    ceiling = max(old)
    for card in cards:
        price = _card_price(card)
        if price is None or price >= ceiling:
            failures.append(
                f"cheaper_than_before: {card.get('sku')} costs {price}, not under "
                f"{ceiling}"
            )
    if {c.get("sku") for c in cards} <= {c.get("sku") for c in before}:
        failures.append("cheaper_than_before: the same cards as before")
    return failures


def _check_status(
    wanted: Mapping[str, Any], status: Mapping[str, Any] | None
) -> list[str]:
    if status is None:
        return ["status: no status frame"]
    failures = []
    for key, value in wanted.items():
        have = status.get(key)
        if value is None:
            ok = have is None
        elif value == "set":
            ok = have is not None
        else:
            ok = have == value
        if not ok:
            failures.append(f"status: {key} expected {value!r}, got {have!r}")
    return failures
