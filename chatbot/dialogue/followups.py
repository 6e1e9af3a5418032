"""Follow-ups and values on their own: small rules read before the model's intent.

Right after product cards, "anything cheaper?", "in red?", "the second one", "does
it come in M" and "is the Ridge boot in stock" are about those cards, whatever the
intent model makes of a few words out of context. A message that is only an order
number or an email belongs to the order form, not to some intent. The rules here
only read text; the policy decides what to do with what they find, and applies a
follow-up only when the conversation has cards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from chatbot.dialogue.forms import OrderNumbers
from recommender.search import SOLD_OUT_OK, read_colours, read_sizes, words_to_digits

Kind = Literal[
    "cheaper", "more", "refine", "narrow", "pick", "sizes", "colours", "stock"
]

CHEAPER = re.compile(
    r"\b(?:cheaper|less expensive|lower price[sd]?|more affordable|"
    r"budget (?:option|version|ones?)|too (?:expensive|pricey|much)|"
    r"(?:a bit|bit) (?:much|pricey)|something for less|under that)\b",
    re.IGNORECASE,
)
MORE = re.compile(
    r"\b(?:show (?:me )?(?:more|others|other ones|something else)|"
    r"any ?(?:thing|one)? else|other (?:options|ones|choices)|more (?:options|like "
    r"(?:these|those|that|this))|something else|different ones?)\b",
    re.IGNORECASE,
)
ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "middle": 1,
    "last": -1,
    "1": 0,
    "2": 1,
    "3": 2,
}
PICK = re.compile(
    r"\bthe\s+(first|second|third|1st|2nd|3rd|middle|last)\b"
    r"|\b(first|second|third|1st|2nd|3rd|middle|last)\s+(?:one|option|pair|item|"
    r"product|choice)\b"
    r"|\b(?:number|no\.?|option|#)\s*([1-3])\b",
    re.IGNORECASE,
)
# "any for kids?", "something for hiking", "what about ones for women": the same
# search, for someone or something in particular.
NARROW = re.compile(
    r"^\s*(?:and\s+)?(?:any(?:thing|one)?|something|ones?|what about|how about|"
    r"got any|do you have (?:any|some|ones?))\b"
    r"(?:\s+(?:ones?|some|of (?:them|these|those)))?\s+(for\s+[\w\s'-]+?)"
    r"\s*[?.!]*\s*$",
    re.IGNORECASE,
)
# "it", "this one", "them": the product in focus.
IT = re.compile(
    r"\b(?:it|this|that|this one|that one|them|they|these|those)\b", re.IGNORECASE
)
ASKS = re.compile(
    r"\b(?:does|do|is|are|has|have|got|come|comes|available|any|can i get)\b",
    re.IGNORECASE,
)
WHICH_SIZES = re.compile(r"\b(?:what|which|available|all the)\s+sizes?\b", re.I)
WHICH_COLOURS = re.compile(r"\b(?:what|which|other|available)\s+colou?rs?\b", re.I)
# "Is the Ridge boot in stock?", "do you still have the parka", "any left?", and
# "when will the vest be back in stock?" (a yes or no about it answers that too).
STOCK_QUESTION = re.compile(
    r"\b(?:is|are|do (?:you|u|ya) (?:still )?have|have (?:you|u) (?:still )?got|"
    r"got|any)\b"
    r"[^.!?]*\b(?:in stock|instock|available|sold out|out of stock|left)\b"
    r"|\bstill available\b|\bany left\b"
    r"|\b(?:back|again) in stock\b|\bavailable again\b|\brestock(?:ed|ing)?\b",
    re.IGNORECASE,
)
STOCK = re.compile(
    r"\b(?:in stock|instock|sold out|out of stock|available|availability|any left|"
    r"(?:have|got) (?:it|any|them|one)(?: left| in stock)?\??$|still (?:there|have))",
    re.IGNORECASE,
)
# Short "in red?" / "what about M" / "any in blue": a refinement, not a description.
SHORT = 6


@dataclass(frozen=True)
class FollowUp:
    """What a message says about the cards just shown.

    ``position``: the card it picks ("the second one" → 1; -1 for "the last one");
    ``sizes``/``colours``: the ones it asks about or for.
    """

    kind: Kind
    position: int | None = None
    sizes: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    about_one: bool = False  # "it", "this one", or a picked card: one product
    words: str = ""  # what a "narrow" follow-up adds to the search ("for kids")


def detect(text: str) -> FollowUp | None:
    """The follow-up ``text`` makes to product cards, or None if it makes none."""
    digits = words_to_digits(text)
    pick = PICK.search(text)
    position = None
    if pick:
        position = ORDINALS[next(g for g in pick.groups() if g).lower()]
    about_one = pick is not None or bool(IT.search(text))
    sizes, colours = read_sizes(digits), read_colours(text)
    short = len(re.findall(r"\w+", text)) <= SHORT
    if STOCK.search(text) and not SOLD_OUT_OK.search(text):
        return FollowUp("stock", position, about_one=about_one)
    if WHICH_SIZES.search(text) or (sizes and (about_one or ASKS.search(text))):
        return FollowUp("sizes", position, sizes=sizes, about_one=about_one)
    if WHICH_COLOURS.search(text) or (colours and about_one and ASKS.search(text)):
        return FollowUp("colours", position, colours=colours, about_one=about_one)
    if CHEAPER.search(text):
        return FollowUp("cheaper", position, about_one=pick is not None)
    if colours and (short or ASKS.search(text)):
        return FollowUp("refine", sizes=sizes, colours=colours)
    if sizes and short:
        return FollowUp("refine", sizes=sizes)
    if short and (narrow := NARROW.search(text)):
        return FollowUp("narrow", words=narrow.group(1).strip())
    if MORE.search(text):
        return FollowUp("more")
    if pick:
        return FollowUp("pick", position, about_one=True)
    return None


# --- values on their own -------------------------------------------------------

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# What people put around a value they send on its own: "it's NW-10234 thanks",
# "my email is alice@example.com", "order no: #NW 10234".
FILLER = re.compile(
    r"\b(?:it'?s|its|it is|here(?: it is| you go)?|my|the|order|orders|number|"
    r"num|no|nr|ref(?:erence)?|id|is|was|email|e-mail|mail|address|thanks|thank you|"
    r"thx|ty|pls|please|ok|okay|sure|yes|yeah|yep|sorry|hi|hello|hey|and|for|"
    r"this|that|i used|used|under|on|sent|to)\b|[#:,.!?;()\"'\-\s]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Values:
    """An order number and/or an email, sent with nothing else to say."""

    order_number: str | None = None
    email: str | None = None


def values_only(text: str, *, order_numbers: OrderNumbers) -> Values | None:
    """The order number and email ``text`` gives, if that is all it says."""
    found = [*order_numbers.lenient.finditer(text), *EMAIL.finditer(text)]
    if not found:
        return None
    rest = text
    for match in sorted(found, key=lambda m: m.start(), reverse=True):
        rest = rest[: match.start()] + " " + rest[match.end() :]
    if FILLER.sub("", rest).strip():
        return None
    number = order_numbers.lenient.search(text)
    address = EMAIL.search(text)
    return Values(
        order_number=order_numbers.written(number) if number else None,
        email=address.group(0).lower() if address else None,
    )
