"""PLACEHOLDER, to be replaced at merge by the redaction module of issue #17 item 1
(branch ``redact``), whose interface it copies: ``redact(text, *, kinds,
order_numbers) -> Redaction``. Only what the retention purge's tests need: card
numbers (Luhn-checked), emails and phone numbers; text matching an order number is
never masked as a phone."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

MASK = "••••"


class Kind(StrEnum):
    CARD = "card"
    IBAN = "iban"
    ID = "id"
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"


ALWAYS: frozenset[Kind] = frozenset({Kind.CARD, Kind.IBAN, Kind.ID})
CONTACTS: frozenset[Kind] = frozenset({Kind.EMAIL, Kind.PHONE, Kind.ADDRESS})

OrderNumbers = re.Pattern[str] | str | Iterable[re.Pattern[str] | str] | None

_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d ()/-]{6,}\d(?!\w)")


@dataclass(frozen=True)
class Redaction:
    """The text as a boundary keeps it, and the kinds that were masked in it."""

    text: str
    kinds: frozenset[Kind]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def redact(
    text: str, *, kinds: Iterable[Kind] = ALWAYS, order_numbers: OrderNumbers = None
) -> Redaction:
    """Mask every ``kinds`` in ``text``, keeping the shape (``[card ••••4242]``)."""
    wanted = frozenset(kinds)
    found: set[Kind] = set()
    if isinstance(order_numbers, str | re.Pattern):
        order_numbers = [order_numbers]
    protected = [
        re.compile(p) if isinstance(p, str) else p for p in order_numbers or []
    ]

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if not luhn_valid(digits):
            return match.group()
        found.add(Kind.CARD)
        return f"[card {MASK}{digits[-4:]}]"

    def email(match: re.Match[str]) -> str:
        found.add(Kind.EMAIL)
        return f"[email {MASK}]"

    def phone(match: re.Match[str]) -> str:
        if any(p.fullmatch(match.group()) for p in protected):
            return match.group()
        found.add(Kind.PHONE)
        return f"[phone {MASK}{match.group()[-2:]}]"

    if Kind.CARD in wanted:
        text = _CARD.sub(card, text)
    if Kind.EMAIL in wanted:
        text = _EMAIL.sub(email, text)
    if Kind.PHONE in wanted:
        text = _PHONE.sub(phone, text)
    return Redaction(text, frozenset(found))
