"""PLACEHOLDER, to be replaced at merge by the redaction module of issue #17 item 1
(branch ``redact``): only what the retention purge's tests need, behind the same
interface. Masks Luhn-valid card numbers always, emails and phone numbers when
``contacts``; strings matching ``order_number`` are never masked."""

from __future__ import annotations

import re

CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w+])\+?\d[\d ()/-]{6,}\d(?!\w)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def redact(
    text: str, *, order_number: re.Pattern[str] | None = None, contacts: bool
) -> str:
    """``text`` with card numbers (and, with ``contacts``, emails and phones)
    masked, keeping their shape: ``[card ••••4242]``."""

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        if not luhn_valid(digits):
            return match.group()
        return f"[card ••••{digits[-4:]}]"

    def phone(match: re.Match[str]) -> str:
        if order_number is not None and order_number.fullmatch(match.group()):
            return match.group()
        return "[phone]"

    text = CARD.sub(card, text)
    if contacts:
        text = EMAIL.sub("[email]", text)
        text = PHONE.sub(phone, text)
    return text
