"""Asking about a policy, or asking for the action: "can I still return something
I bought three weeks ago?" wants the return window first; "I want to return
NW-10235" wants the return started.

A few rules on the words, no model: a message that names an order, or says what
the customer wants done ("I want to…", "please cancel…", "cancel my order"), asks
for the action; a message in question form about what is possible or how long
("can I…", "how long do I have…", "what's your return policy") asks about the
policy. The policy answers the second kind from the help centre and offers the
action as a button.
"""

from __future__ import annotations

import re

# Words for small numbers, as people type durations ("three weeks ago").
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "couple of": 2,
    "a couple of": 2,
    "a few": 3,
    "few": 3,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fourteen": 14,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}
UNIT_DAYS = {"day": 1, "week": 7, "wk": 7, "month": 30, "year": 365}

# "I want to return…", "please cancel…", "start a return", "cancel my order":
# the customer says what to do.
WANTS_ACTION = re.compile(
    r"\b(?:i\s*(?:'d|would)\s+like\s+to|i\s*(?:wanna|want\s+to|need\s+to)|"
    r"i'?m\s+(?:trying|looking)\s+to|please|pls|plz|"
    r"(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+)?"
    r"(?:cancel|return|start|process|refund|stop)|"
    r"help\s+me\s+(?:to\s+)?(?:cancel|return)|"
    r"start\s+(?:a|the|my)\s+return|(?:let'?s|lets)\s+(?:cancel|return|start))\b",
    re.IGNORECASE,
)
# A bare command: the message opens with the verb ("cancel my order", "return
# these boots").
COMMAND = re.compile(
    r"^\s*(?:cancel|return|refund|send\s+back|stop)\b(?!\s+policy)", re.IGNORECASE
)
# Question forms about what is allowed, how long, how it works, and why it went
# as it did ("why did I only get a partial refund?" wants the rule that explains it).
ASKS = re.compile(
    r"^\s*(?:(?:so|ok(?:ay)?|hi|hey|hello|quick question)[,!.]?\s+)?"
    r"(?:can|could|may|is|are|do|does|will|would|am|how|what|what'?s|whats|when|why|"
    r"until\s+when|till\s+when|within|is\s+it|are\s+there)\b"
    r"|\?\s*$"
    r"|\b(?:can|could|may|do|am)\s+i\b|\bis\s+it\s+(?:possible|ok|okay)\b"
    r"|\b(?:policy|polic(?:ies|y)|how\s+long|how\s+many\s+days|deadline|"
    r"time\s+limit|too\s+late|still\s+(?:return|cancel|send))\b",
    re.IGNORECASE,
)
DURATION = re.compile(
    r"\b(\d{1,3}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
    r"\s*(day|week|wk|month|year)s?\b",
    re.IGNORECASE,
)
RELATIVE = {"yesterday": 1, "last week": 7, "last month": 30}


def asks_about_policy(text: str, *, order_number: re.Pattern[str]) -> bool:
    """Whether ``text`` asks what the policy allows rather than for the action.

    Args:
        text: the customer's message.
        order_number: the shop's order-number pattern; a message naming an order
            asks for the action on it.
    """
    if order_number.search(text):
        return False
    if WANTS_ACTION.search(text) or COMMAND.search(text):
        return False
    return bool(ASKS.search(text))


def elapsed_days(text: str) -> int | None:
    """How long ago the customer says something happened, in days, if they do.

    "bought it three weeks ago" → 21, "2 months back" → 60, "yesterday" → 1.
    """
    lowered = text.lower()
    match = DURATION.search(lowered)
    if match:
        amount, unit = match.groups()
        count = int(amount) if amount.isdigit() else NUMBER_WORDS[amount]
        return count * UNIT_DAYS[unit]
    return next((days for phrase, days in RELATIVE.items() if phrase in lowered), None)


def duration_words(text: str) -> str | None:
    """The duration as the customer wrote it ("three weeks"), to say it back."""
    match = DURATION.search(text)
    if match:
        return match.group(0).strip()
    lowered = text.lower()
    return next((phrase for phrase in RELATIVE if phrase in lowered), None)
