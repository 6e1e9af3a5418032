"""Redaction: mask what must not leave the live conversation, keep the shape.

Pure text in, text out: compiled regexes and checksums, no I/O, no settings. The
caller (``ShopSettings.redact`` reads the shop's settings) says which kinds to mask and
passes the shop's order-number pattern(s), which are never masked as an ID or a
phone number.

What is found, and how it is told from the numbers a shop talks about all day:

- **card**: 13 to 19 digits written whole or in the printed layouts (4-4-4-4,
  4-6-5 Amex, 4-6-4 Diners, 4-4-4-4-3), spaces or dashes; the first digit is one a
  card network issues (2 to 6) and the Luhn checksum holds. Tracking numbers (letters),
  order numbers and dates fail one of these; a 13-digit number that is a valid
  EAN-13 barcode is taken for the barcode.
- **iban**: country code, two check digits, 11 to 30 letters or digits, with or
  without the usual spaces; the ISO 13616 mod-97 checksum holds. Upper case only,
  so that a word after the number is never taken as part of it.
- **id**: government-ID shapes that are unlikely to be anything else: US SSN
  (``123-45-6789``), UK National Insurance number, Spanish DNI/NIE (check letter
  verified), French social security number (NIR, key verified), Italian codice
  fiscale. Bare digit runs (German tax id, Dutch BSN) are left alone: they cannot be
  told from order or product numbers.
- **email**: the usual ``local@domain.tld``.
- **phone**: ``+CC`` international numbers (8 to 15 digits), national numbers that
  start with 0 (9 to 12 digits with separators, 10 to 11 without: a 12-digit UPC barcode
  is not a phone), and US numbers written with separators (``(555) 123-4567``).
- **address**: a street line (``221B Baker Street``, ``Hauptstraße 5``,
  ``12 rue de la Paix``), a US ``City, ST 12345`` line, a UK postcode, a
  German/French ``10115 Berlin`` line at the start of a line or after a comma.
  Neighbouring parts (``Hauptstraße 5, 10115 Berlin``) become one ``[address]``.

Cards and IBANs are checksum-verified payment data and are masked even where the
text also matches the order-number pattern; IDs, phones and addresses yield to it
(and to anything shaped like an IBAN).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

MASK = "••••"


class Kind(StrEnum):
    CARD = "card"
    IBAN = "iban"
    ID = "id"
    EMAIL = "email"
    PHONE = "phone"
    ADDRESS = "address"


# Masked at every boundary whatever the shop's settings say.
ALWAYS: frozenset[Kind] = frozenset({Kind.CARD, Kind.IBAN, Kind.ID})
# Masked where the shop turns it on.
CONTACTS: frozenset[Kind] = frozenset({Kind.EMAIL, Kind.PHONE, Kind.ADDRESS})
# Kinds an order-number match protects (cards and IBANs carry a checksum).
YIELDS_TO_ORDER_NUMBERS: frozenset[Kind] = frozenset(
    {Kind.ID, Kind.PHONE, Kind.ADDRESS}
)

OrderNumbers = re.Pattern[str] | str | Iterable[re.Pattern[str] | str] | None

# Not glued to a word, a number or a dash on either side.
_L = r"(?<![\w-])"
_R = r"(?![\w-])"

_CARD = re.compile(
    _L
    + r"(?:\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?"  # 4-4-4-4, 4-4-4-4-3
    + r"|\d{4}([ -])\d{6}\2\d{4,5}"  # 4-6-5 (Amex), 4-6-4 (Diners)
    + r"|\d{13,19})"
    + _R
)
_IBAN = re.compile(
    r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])"
)
_SSN = re.compile(_L + r"(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}" + _R)
_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
_DNI = re.compile(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NIR = re.compile(
    _L + r"([12]) ?(\d{2}) ?(\d{2}) ?(\d{2}|2[AB]) ?(\d{3}) ?(\d{3}) ?(\d{2})" + _R
)
_CODICE_FISCALE = re.compile(r"\b[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]\b")

_EMAIL = re.compile(
    r"(?<![\w.+-])(\w[\w.%+-]*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
    r"\.[A-Za-z]{2,})\b"
)

_SEP = r"[ ./-]"
# "+" or "00", a country code, then the national number: "00" only with a
# separator after the country code (006381 333931 is a barcode's digits).
_PHONE_INTERNATIONAL = re.compile(
    r"(?<![\w+])(?:\+(?P<cc>[1-9]\d{0,2})|00(?P<cc00>[1-9]\d{0,2})(?=[ ./(-]))"
    r"(?P<rest>(?:[ ./-]?\(0\))?(?:[ ./-]?\(?\d{1,5}\)?){1,6})" + _R
)
# A trunk 0, then a digit that is not 0 ("00" starts an international number):
# written whole, or in groups.
_PHONE_NATIONAL = re.compile(
    _L + r"0[1-9](?:\d{8,9}|\d{0,4}(?:(?:" + _SEP + r"|/ ?)\d{2,8}){1,4})" + _R
)
_PHONE_US = re.compile(
    r"(?<![\w+])(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}" + _R
)

_STREET_TYPES = (
    r"Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way"
    r"|Place|Pl|Terrace|Close|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy|Row|Mews"
)
_STREET_EN = re.compile(
    r"\b\d{1,5}[A-Za-z]?,? (?:[A-Z][A-Za-z'.-]*\.? ){1,4}"
    r"(?:" + _STREET_TYPES + r")\b\.?"
)
_STREET_DE = re.compile(
    r"\b[A-ZÄÖÜ][\wäöüß.-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm"
    r"|ufer|chaussee)(?: [A-ZÄÖÜ][\wäöüß-]*)? \d{1,4}(?: ?[a-z])?\b",
)
_STREET_FR = re.compile(
    r"\b\d{1,4}(?: ?(?:bis|ter))?,? (?:rue|avenue|av\.|boulevard|bd|allée|place"
    r"|chemin|impasse|quai|cours) (?:(?:de|du|des|la|le|l'|d')\s?)*[A-ZÉÈ][\w'-]*"
    r"(?: [A-ZÉÈ][\w'-]*)*",
)
_US_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO"
    "|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)
_US_CITY_ZIP = re.compile(
    r"\b[A-Z][a-z]+(?: [A-Z][a-z]+){0,2},? (?:" + _US_STATES + r") \d{5}(?:-\d{4})?\b"
)
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}\b")
# A postcode and a city on their own line or after a comma: "12345 Shoes" in the
# middle of a sentence is a quantity, not an address.
_PLZ_CITY = re.compile(
    r"(?:(?<=,)|(?<=, )|^)(?:D-)?\d{5} [A-ZÄÖÜÉ][a-zäöüßéèà]+"
    r"(?:[ -][A-ZÄÖÜ]?[a-zäöüß]+)*",
    re.MULTILINE,
)
# Between two parts of one address: separators, and a city name on its own.
_ADDRESS_JOIN = re.compile(r"[ ,\n]*(?:[A-Z][A-Za-z]*[ ,\n]+){0,2}")


@dataclass(frozen=True)
class Redaction:
    """The text as a boundary keeps it, and the kinds that were masked in it."""

    text: str
    kinds: frozenset[Kind]

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (cards)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """Whether an IBAN (spaces allowed) passes the ISO 13616 mod-97 checksum."""
    compact = iban.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ean13_valid(digits: str) -> bool:
    """Whether 13 digits carry a valid EAN-13 (GTIN) check digit: a barcode."""
    weighted = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits[:12]))
    return len(digits) == 13 and (10 - weighted % 10) % 10 == int(digits[12])


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _cards(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _CARD.finditer(text):
        digits = _digits(m.group())
        if not (13 <= len(digits) <= 19 and digits[0] in "23456"):
            continue
        # 13-digit cards (early Visa) are long gone; 13-digit barcodes (EAN, German
        # ones start with 4 as Visa does) are on every product page.
        if luhn_valid(digits) and not ean13_valid(digits):
            yield m.start(), m.end(), f"[card {MASK}{digits[-4:]}]"


def _ibans(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _IBAN.finditer(text):
        if iban_valid(m.group()):
            compact = m.group().replace(" ", "")
            yield m.start(), m.end(), f"[iban {MASK}{compact[-4:]}]"


def _nir_valid(m: re.Match[str]) -> bool:
    body = "".join(m.groups()[:6]).replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(m.group(7))


def _ids(text: str) -> Iterator[tuple[int, int, str]]:
    for pattern in (_SSN, _NINO, _CODICE_FISCALE):
        for m in pattern.finditer(text):
            yield m.start(), m.end(), "[id]"
    for m in _DNI.finditer(text):
        prefix, number, letter = m.groups()
        value = int(str("XYZ".index(prefix)) + number) if prefix else int(number)
        if (prefix or len(number) == 8) and _DNI_LETTERS[value % 23] == letter:
            yield m.start(), m.end(), "[id]"
    for m in _NIR.finditer(text):
        if _nir_valid(m):
            yield m.start(), m.end(), "[id]"


def _emails(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _EMAIL.finditer(text):
        yield m.start(), m.end(), f"[email {m.group(1)[0]}{MASK}@{m.group(2)}]"


def _phones(text: str) -> Iterator[tuple[int, int, str]]:
    for m in _PHONE_INTERNATIONAL.finditer(text):
        digits = _digits(m.group())
        # After the country code the national number drops its trunk 0 (written
        # "(0)" if at all); only Italy keeps it. "DE89 3704 0044 0532" is no phone.
        rest = _digits(m.group("rest").replace("(0)", ""))
        if rest.startswith("0") and (m.group("cc") or m.group("cc00")) != "39":
            continue
        if 8 <= len(digits) <= 15:
            yield m.start(), m.end(), f"[phone {MASK}{digits[-2:]}]"
    for m in _PHONE_NATIONAL.finditer(text):
        digits = _digits(m.group())
        separated = len(digits) != len(m.group())
        if (9 <= len(digits) <= 12) if separated else (10 <= len(digits) <= 11):
            yield m.start(), m.end(), f"[phone {MASK}{digits[-2:]}]"
    for m in _PHONE_US.finditer(text):
        yield m.start(), m.end(), f"[phone {MASK}{_digits(m.group())[-2:]}]"


def _addresses(text: str) -> Iterator[tuple[int, int, str]]:
    for pattern in (
        _STREET_EN,
        _STREET_DE,
        _STREET_FR,
        _US_CITY_ZIP,
        _UK_POSTCODE,
        _PLZ_CITY,
    ):
        for m in pattern.finditer(text):
            yield m.start(), m.end(), "[address]"


# In this order: a span found earlier wins over one that overlaps it later.
_FINDERS = (
    (Kind.CARD, _cards),
    (Kind.IBAN, _ibans),
    (Kind.EMAIL, _emails),
    (Kind.ID, _ids),
    (Kind.PHONE, _phones),
    (Kind.ADDRESS, _addresses),
)


@lru_cache(maxsize=64)
def _order_number_finder(pattern: str, flags: int) -> re.Pattern[str]:
    # The shop's pattern matches one order number in full; in running text it
    # stands alone (not inside a longer word or number).
    return re.compile(rf"(?<![\w-])(?:{pattern})(?![\w-])", flags | re.IGNORECASE)


def _order_number_patterns(order_numbers: OrderNumbers) -> list[re.Pattern[str]]:
    if order_numbers is None:
        return []
    if isinstance(order_numbers, str | re.Pattern):
        order_numbers = [order_numbers]
    patterns = []
    for item in order_numbers:
        if isinstance(item, str):
            patterns.append(_order_number_finder(item, 0))
        else:
            patterns.append(_order_number_finder(item.pattern, item.flags))
    return patterns


def redact(
    text: str,
    *,
    kinds: Iterable[Kind] = ALWAYS,
    order_numbers: OrderNumbers = None,
) -> Redaction:
    """Mask every ``kinds`` in ``text``, keeping the shape (``[card ••••4242]``).

    Args:
        text: what a customer or an agent wrote.
        kinds: what to mask; ``ALWAYS`` by default, ``ALWAYS | CONTACTS`` for all.
        order_numbers: the shop's order-number pattern, or several (strings or
            compiled); text they match is never masked as an ID, phone or address.

    Returns:
        The masked text and the kinds found in it.
    """
    wanted = frozenset(kinds)
    # Everything masked holds a digit, except an email address.
    if (
        not wanted
        or not text
        or ("@" not in text and not any(c.isdigit() for c in text))
    ):
        return Redaction(text, frozenset())
    # An IBAN with a typo (wrong checksum) is not masked, and its digit groups are
    # not a phone number either.
    protected = [
        m.span()
        for pattern in [*_order_number_patterns(order_numbers), _IBAN]
        for m in pattern.finditer(text)
    ]
    spans: list[tuple[int, int, str, Kind]] = []
    for kind, finder in _FINDERS:
        if kind not in wanted:
            continue
        for start, end, mask in finder(text):
            if any(start < e and s < end for s, e, _, _ in spans):
                continue
            if kind in YIELDS_TO_ORDER_NUMBERS and any(
                start < e and s < end for s, e in protected
            ):
                continue
            spans.append((start, end, mask, kind))
    if not spans:
        return Redaction(text, frozenset())
    spans.sort()
    pieces: list[str] = []
    at = 0
    previous: Kind | None = None
    for start, end, mask, kind in spans:
        gap = text[at:start]
        if kind == previous == Kind.ADDRESS and _ADDRESS_JOIN.fullmatch(gap):
            at = end  # "Hauptstraße 5, 10115 Berlin" is one address
            continue
        pieces.append(gap)
        pieces.append(mask)
        at = end
        previous = kind
    pieces.append(text[at:])
    return Redaction("".join(pieces), frozenset(kind for *_, kind in spans))


def redact_json(
    value: Any,
    *,
    kinds: Iterable[Kind] = ALWAYS,
    order_numbers: OrderNumbers = None,
) -> Any:
    """``value`` (a JSON value: dicts, lists, strings…) with every string in it
    redacted as :func:`redact` does; keys and other values are kept.

    Args:
        value: a message payload, say (buttons quote the customer).
        kinds: what to mask.
        order_numbers: the shop's order-number pattern(s), never masked as IDs.

    Returns:
        A copy with the strings masked (the same value when it holds none).
    """
    wanted = frozenset(kinds)
    if isinstance(value, str):
        return redact(value, kinds=wanted, order_numbers=order_numbers).text
    if isinstance(value, list):
        return [
            redact_json(item, kinds=wanted, order_numbers=order_numbers)
            for item in value
        ]
    if isinstance(value, dict):
        return {
            key: redact_json(v, kinds=wanted, order_numbers=order_numbers)
            for key, v in value.items()
        }
    return value
