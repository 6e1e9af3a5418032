"""Messages that ask for several things at once: split, then plan, without a database.

"where's my order NW-10234 and also do you sell rain jackets" is two requests; the
service splits it into clauses (:func:`split`), classifies every clause in one call
of the model, and hands the clauses with their readings to the policy
(``Incoming.parts``). The policy keeps the clauses that are requests of their own
(:func:`requests`) and :func:`plan` says what to do with them:

- ``together``: every request is answered in this one reply (canned answers, help
  centre articles, product cards fit side by side);
- ``ask``: one of them starts a form (an order lookup, a return…), which takes
  several turns: the customer is asked which to do first, one button per request,
  and the other is offered once the first is done;
- ``handoff``: one of them asks for a person (or is a complaint): that wins;
- ``single``: not several requests after all; the whole message is one.

Things that read like two requests but are one, and how they are decided:

- "black and white sneakers", "a tent and sleeping bag for two": no clause starts
  after the "and" (a colour, a noun), so there is nothing to split.
- "cancel and refund my order": one request. Cancelling refunds the payment by
  itself, and the clause before "and" is a bare verb, too short to stand alone.
- "where is my order? when will it arrive?": two clauses with one topic (both about
  the order's whereabouts): one request, handled once.
- "hi! where's my order": the greeting is not a request of its own.
- "can you check my order? my email is carla@example.com": a clause that only gives
  an order number or an email is a value for the request beside it, not a request
  (the policy leaves such clauses out, as it knows the shop's order numbers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from classifier.serving import Classification

# The most requests one message is split into (one button each).
MAX_REQUESTS = 3
# A clause shorter than this many words is not a request of its own: it joins the
# next clause ("hi. where is my order", "ok so, track my parcel").
MIN_WORDS = 2
# Pleasantries around a request are not requests.
SMALL_TALK = frozenset({"greeting", "thanks", "goodbye"})
# Intents that ask the same thing twice in other words: one request.
TOPIC = {
    "order_status": "order",
    "track_order": "order",
    "product_recommendation": "products",
    "product_availability": "products",
}

# Where one clause ends and the next begins: end of a sentence, a semicolon, a new
# line, "and also" / ", also" / ", plus" / "oh and", or "and" followed by words that
# open a request of their own (a question word, "do you", "can I", "I also"…). "and
# I want a new one" goes on with the same request, so a bare "I" does not split; nor
# does "and" before a colour or a noun ("black and white sneakers").
OPENERS = (
    r"where|what|when|how|why|which|who|whats|where's|what's|when's|how's|"
    r"do|does|did|can|could|would|will|is|are|was|were|should|"
    r"i\s+also|i'd\s+also|also|please|pls|tell|show|send|give|help|"
    r"track|check|find|recommend|suggest|any|"
    r"cancel|return|change|update"
)
BOUNDARY = re.compile(
    r"(?<=[?!])\s+"
    r"|(?<=[a-z0-9)\"'])[.;]\s+(?=\S)"
    r"|\s*\n+\s*"
    r"|,?\s+(?:and\s+also|oh\s+and)\s*,?\s+"
    r"|,\s*(?:also|plus)\s*,?\s+"
    rf"|,?\s+and\s+(?=(?:{OPENERS})\b)",
    re.IGNORECASE,
)
# A conjunction left at the start of a clause ("also, do you…", "and do you…").
LEADING = re.compile(r"^(?:(?:and|also|plus|oh|so)\b[\s,]*)+", re.IGNORECASE)
WORD = re.compile(r"[\w'\u2019-]+")
Plan = Literal["single", "together", "ask", "handoff"]


def split(text: str) -> list[str]:
    """The clauses of ``text`` that may each be a request; ``[text]`` when one.

    >>> split("where's my order NW-10234 and also do you sell rain jackets")
    ["where's my order NW-10234", 'do you sell rain jackets']
    """
    pieces = [
        LEADING.sub("", p.strip(" ,")) or p.strip(" ,")
        for p in BOUNDARY.split(text.strip())
        if p and p.strip()
    ]
    clauses: list[str] = []
    carry = ""
    for piece in pieces:
        joined = f"{carry} {piece}".strip() if carry else piece
        if len(WORD.findall(joined)) < MIN_WORDS:
            carry = joined  # too short to stand alone: it opens the next clause
            continue
        clauses.append(joined)
        carry = ""
    if carry:
        if clauses:
            clauses[-1] = f"{clauses[-1]} {carry}"
        else:
            clauses.append(carry)
    return clauses or [text]


@dataclass(frozen=True)
class Request:
    """One request of a message: its own words and the model's reading of them."""

    text: str
    classification: Classification

    @property
    def intent(self) -> str:
        return self.classification.intent

    def label(self, limit: int = 60) -> str:
        """The request as a button title: the customer's words, shortened."""
        words = self.text.strip().rstrip("?!.,;")
        shown = words if len(words) <= limit else words[: limit - 1].rstrip() + "…"
        return shown[:1].upper() + shown[1:]


def requests(
    parts: Sequence[tuple[str, Classification | None]],
    *,
    sure: Callable[[Classification], bool],
) -> list[Request]:
    """The parts that are requests of their own, one per topic, in their order.

    ``sure``: whether the policy would act on a reading without asking (a clause
    the model is unsure of, or finds out of scope, is left to the whole message).
    """
    found: list[Request] = []
    topics: set[str] = set()
    for text, reading in parts:
        if reading is None or reading.out_of_scope or not sure(reading):
            continue
        if reading.intent in SMALL_TALK:
            continue
        topic = TOPIC.get(reading.intent, reading.intent)
        if topic in topics:
            continue
        topics.add(topic)
        found.append(Request(text=text, classification=reading))
    return found[:MAX_REQUESTS]


def plan(
    found: Sequence[Request],
    *,
    starts_form: Callable[[str], bool],
    hands_over: Callable[[str], bool],
) -> Plan:
    """What to do with the requests of one message (see the module docstring)."""
    if len(found) < 2:
        return "single"
    if any(hands_over(r.intent) for r in found):
        return "handoff"
    if any(starts_form(r.intent) for r in found):
        return "ask"
    return "together"
