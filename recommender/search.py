"""Catalog search from a chat message: constraints as SQL filters, meaning by vectors.

"a waterproof jacket under fifty bucks, in red" → category Jackets, price ≤ 50 in
the shop's currency, colour red, in stock (always, unless the customer says sold-out
items are fine), then the closest products to the message's embedding among those.
When nothing meets every constraint, :func:`nearest` drops the one that can't be met
and says so, so the bot can answer "nothing under $20 — the closest are …".
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.db.models import Q, QuerySet
from pgvector.django import CosineDistance

from ml.encoder import get_encoder
from recommender.models import Product, money

# --- numbers written in words ---------------------------------------------------------

UNITS = {
    "one": 1,
    "two": 2,
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
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"hundred": 100, "grand": 1000, "thousand": 1000}
WORD = re.compile(r"[a-z]+", re.IGNORECASE)
# Between two number words only spaces or a hyphen ("eighty-five", "a hundred").
JOINER = re.compile(r"[ \t-]+")


def _kind(word: str) -> str | None:
    if word in UNITS:
        return "unit" if UNITS[word] < 10 else "teen"
    if word in TENS:
        return "tens"
    if word in SCALES:
        return "scale"
    return {"a": "a", "and": "and"}.get(word)


# Which kind of word may follow which inside one number: "a hundred and five",
# "eighty-five", "two thousand"; "fifty and eighty" is two numbers.
FOLLOWS = {
    None: {"unit", "teen", "tens", "a"},
    "a": {"scale"},
    "unit": {"scale"},
    "teen": {"scale"},
    "tens": {"unit", "scale"},
    "scale": {"and", "unit", "teen", "tens", "scale"},
    "and": {"unit", "teen", "tens"},
}


def _value(words: list[str]) -> int:
    total, current = 0, 0
    for word in words:
        if word in UNITS:
            current += UNITS[word]
        elif word in TENS:
            current += TENS[word]
        elif word in SCALES:
            scale = SCALES[word]
            if scale >= 1000:
                total += max(current, 1) * scale
                current = 0
            else:
                current = max(current, 1) * scale
        elif word == "a":
            current = 1
    return total + current


def words_to_digits(text: str) -> str:
    """``"under eighty-five bucks"`` → ``"under 85 bucks"``; ``"a hundred"`` → 100.

    "one" on its own stays a word ("the second one", "this one").
    """
    out: list[str] = []
    position = 0
    run: list[tuple[re.Match[str], str]] = []  # the words of the number being read

    def close() -> None:
        nonlocal position
        # Trailing "a"/"and" are not part of the number.
        while run and run[-1][1] in ("a", "and"):
            run.pop()
        words = [w for _, w in run]
        if run and words != ["one"]:
            out.append(text[position : run[0][0].start()])
            out.append(str(_value(words)))
            position = run[-1][0].end()
        run.clear()

    for match in WORD.finditer(text):
        word = match.group(0).lower()
        kind = _kind(word)
        previous = _kind(run[-1][1]) if run else None
        joined = not run or JOINER.fullmatch(text[run[-1][0].end() : match.start()])
        if kind is None or not joined or kind not in FOLLOWS[previous]:
            close()
            if kind is not None and kind in FOLLOWS[None]:
                run.append((match, word))
            continue
        run.append((match, word))
    close()
    out.append(text[position:])
    return "".join(out)


# --- prices ------------------------------------------------------------------------

# What a customer writes for a currency → its ISO code; "$", "dollars" and "bucks"
# are the shop's own currency when that is a dollar (USD, CAD, AUD…).
CURRENCY_WORDS = {
    "$": "$",
    "usd": "USD",
    "dollar": "$",
    "dollars": "$",
    "buck": "$",
    "bucks": "$",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
    "yen": "JPY",
    "₹": "INR",
    "inr": "INR",
    "rupees": "INR",
    "chf": "CHF",
    "francs": "CHF",
    "cad": "CAD",
    "aud": "AUD",
}
_CURRENCY = (
    r"\$|€|£|¥|₹|usd|eur|gbp|jpy|inr|chf|cad|aud|dollars?|bucks?|euros?|pounds?|"
    r"quid|yen|rupees|francs"
)
# A number starts where no digit precedes it and takes its digits possessively: an
# unanchored search would otherwise try every position of a long digit run and give
# the digits back one by one at each, which is quadratic (4,000 digits, 2 s of CPU).
AMOUNT = re.compile(
    rf"(?:(?P<before>\$|€|£|¥|₹|\b(?:usd|eur|gbp|chf|cad|aud)\b)\s?)?"
    r"(?<![\d.,])(?P<number>\d{1,3}(?:,\d{3})++(?:\.\d{1,2})?+|\d++(?:[.,]\d{1,2})?+)"
    rf"(?!\d)(?:\s?(?P<after>(?:{_CURRENCY})(?![a-z])))?",
    re.IGNORECASE,
)
# A number followed by one of these is a size, a count or a time, not a price.
NOT_A_PRICE = re.compile(
    r"\s*(?:%|x\b|kg\b|g\b|l\b|litres?\b|liters?\b|ml\b|cm\b|mm\b|m\b|inch|in\b|\"|"
    r"person\b|people\b|pack\b|pcs\b|pieces?\b|days?\b|weeks?\b|months?\b|years?\b|"
    r"hours?\b|mins?\b|minutes?\b|items?\b|pairs?\b|w\b|watts?\b|mah\b|gb\b)",
    re.IGNORECASE,
)
SIZE_BEFORE = re.compile(r"(?:\bsize|\beu|\buk|\bus)\s*$", re.IGNORECASE)
# The words just before an amount, and just after it, that say which bound it is.
MAX_BEFORE = re.compile(
    r"(?:\bunder|\bbelow|(?<!no )(?<!not )\bless than|\bcheaper than|"
    r"\blower than|\bmax(?:imum)?|"
    r"\bat most|\bup ?to|\bno more than|\bnot more than|\bno higher than|"
    r"\bnot over|\bnot above|\bwithin|<|\bbudget(?: is| of|:)?|\bonly have|"
    r"\bspend(?:ing)?(?: up to)?|\bafford|\bnothing (?:over|above|more than)|"
    r"\bnot (?:a penny|a cent) (?:over|more than)|\bunder the)"
    r"\s*(?:of\s+|a\s+|an\s+|about\s+|around\s+)?(?:the\s+)?$",
    re.IGNORECASE,
)
AROUND_BEFORE = re.compile(
    r"(?:\baround|\babout|\broughly|\bapprox(?:imately|\.)?|~|\bsomewhere around|"
    r"\bin the region of|\bsomething like|\bclose to|\bballpark)\s*$",
    re.IGNORECASE,
)
MIN_BEFORE = re.compile(
    r"(?:\bover|\babove|(?<!no )(?<!not )\bmore than|\bat least|\bmin(?:imum)?|"
    r"\bstarting (?:at|from)|"
    r"\bupwards of|>|\bno less than|\bnot less than)\s*$",
    re.IGNORECASE,
)
MAX_AFTER = re.compile(
    r"\s*(?:max(?:imum)?\b|tops\b|or less\b|or under\b|or below\b|or cheaper\b|"
    r"at (?:the )?most\b|(?:is )?(?:my |the )?(?:budget|limit)\b|at a push\b)",
    re.IGNORECASE,
)
MIN_AFTER = re.compile(
    r"\s*(?:\+|or more\b|or above\b|or over\b|and up\b|and above\b|plus\b|"
    r"min(?:imum)?\b|at least\b)",
    re.IGNORECASE,
)
AROUND_AFTER = re.compile(r"\s*(?:-?ish\b|or so\b|give or take\b)", re.IGNORECASE)
RANGE_JOIN = re.compile(r"\s*(?:and|to|-|\u2013|\u2014|or)\s*", re.IGNORECASE)
# Joins that make a range without "between" or "from": "20-60", "20 to 60".
BARE_RANGE_JOINS = ("-", "\u2013", "\u2014", "to")
RANGE_BEFORE = re.compile(r"(?:\bbetween|\bfrom|\bin the)\s*$", re.IGNORECASE)
# "around 50" searches from 20 % below to 20 % above.
AROUND_SPREAD = Decimal("0.2")

# --- stock, colours, sizes, materials ------------------------------------------------

SOLD_OUT_OK = re.compile(
    r"\b(?:even if (?:it'?s |they'?re |its |theyre )?(?:sold out|out of stock)|"
    r"(?:sold[ -]out|out[ -]of[ -]stock)(?: ones?| items?| products?| stuff)? "
    r"(?:is |are )?(?:fine|ok(?:ay)?|too|as well|included)|"
    r"includ(?:e|ing) (?:the )?(?:sold[ -]out|out[ -]of[ -]stock)|"
    r"(?:don'?t|do not|doesn'?t) (?:care|mind) (?:if|whether) (?:it'?s |they'?re )?"
    r"(?:in stock|sold out|available|out of stock)|"
    r"(?:doesn'?t|does not|don'?t) (?:have|need) to be (?:in stock|available)|"
    r"(?:happy|willing|ok|fine) to (?:wait|pre-?order|back-?order)|"
    r"pre-?orders?|back-?orders?)",
    re.IGNORECASE,
)
COLOURS = {
    "black": "black",
    "white": "white",
    "grey": "grey",
    "gray": "grey",
    "red": "red",
    "blue": "blue",
    "navy": "navy",
    "green": "green",
    "olive": "olive",
    "yellow": "yellow",
    "orange": "orange",
    "pink": "pink",
    "purple": "purple",
    "brown": "brown",
    "tan": "tan",
    "beige": "beige",
    "khaki": "khaki",
    "burgundy": "burgundy",
    "teal": "teal",
    "silver": "silver",
    "gold": "gold",
    "cream": "cream",
}
COLOUR_WORDS = re.compile(
    r"\b(" + "|".join(COLOURS) + r")(?:ish)?\b(?!\s+(?:friday|noise|wine|tea|sox))",
    re.IGNORECASE,
)
LETTER_SIZES = ("XXXL", "XXL", "XL", "XXS", "XS", "S", "M", "L")
SIZE_NAMES = {
    "small": "S",
    "medium": "M",
    "large": "L",
    "extra small": "XS",
    "extra large": "XL",
    "extra-large": "XL",
    "extra-small": "XS",
}
_SIZE = r"xxxl|xxl|xl|xxs|xs|s|m|l|extra[ -]small|extra[ -]large|small|medium|large"
SIZE_PATTERNS = (
    # "size M", "size 42", "a size 9.5", "EU 42", "size: medium"
    re.compile(
        rf"\b(?:size|eu|uk|us)\s*:?\s*({_SIZE}|\d{{1,2}}(?:\.5)?)\b", re.IGNORECASE
    ),
    # "in M", "an XL", "in a medium", "in large" (letters in capitals only: "in s…")
    re.compile(r"\b(?:in|an?|for)\s+(?:an?\s+)?(XXXL|XXL|XL|XXS|XS|S|M|L)\b"),
    re.compile(
        r"\bin\s+(?:an?\s+)?(extra[ -]small|extra[ -]large|small|medium|large)\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(xxxl|xxl|xl|xxs|xs)\b", re.IGNORECASE),
    # "does it come in 44", "have them in a 9.5": a shoe size after "come in".
    re.compile(
        r"\b(?:comes?|have (?:it|them|those|these)|available|get (?:it|them))\s+"
        r"in\s+(?:an?\s+|size\s+)?(\d{1,2}(?:\.5)?)\b(?!\s*(?:%|colou?rs?|styles?))",
        re.IGNORECASE,
    ),
)
MATERIALS = (
    "leather",
    "suede",
    "merino",
    "wool",
    "cashmere",
    "cotton",
    "linen",
    "canvas",
    "denim",
    "nylon",
    "polyester",
    "fleece",
    "silk",
    "bamboo",
    "cast iron",
    "stainless steel",
    "ceramic",
)
MATERIAL_WORDS = re.compile(
    r"\b(" + "|".join(MATERIALS) + r"|down(?=[ -](?:jacket|parka|vest|coat|fill|"
    r"filled|insulated|puffer)))\b",
    re.IGNORECASE,
)
# Words customers use for each demo category. Shops with other categories still get
# the exact category name matched (see parse_constraints).
CATEGORY_WORDS = {
    "Jackets": r"jackets?|coats?|parkas?|raincoats?|shells?|anoraks?|windbreakers?",
    "Shoes": r"shoes?|sneakers?|trainers?|boots?|sandals?|footwear",
    "Bags": r"bags?|backpacks?|rucksacks?|duffels?|totes?|luggage",
    "Kitchen": r"kitchen|cookware|pans?|skillets?|pots?|coffee|kettles?|knives",
    "Electronics": r"electronics?|headphones?|earbuds?|speakers?|chargers?|gadgets?",
    "Home": r"home|blankets?|throws?|pillows?|candles?|decor|bedding",
    "Outdoor": r"outdoors?|camping|tents?|sleeping bags?|stoves?|headlamps?|"
    r"hiking gear",
    "Accessories": r"accessor(?:y|ies)|hats?|caps?|gloves?|scarf|scarves|sunglasses|"
    r"belts?|wallets?",
    "Beauty": r"beauty|skincare|sunscreen|lip balm|moisturi[sz]er|cosmetics",
    "Sportswear": r"sportswear|leggings|running shirts?|shorts|base ?layers?|socks|"
    r"activewear|gym clothes",
}
DOLLARS = {"USD", "CAD", "AUD", "NZD", "SGD", "HKD"}
# The constraints that may be dropped to find the nearest alternatives, in the order
# they are tried. Category and stock are never dropped: a tent is no alternative to
# shoes, and a sold-out product is not recommended unless the customer says so.
RELAXABLE = ("price", "colour", "size", "material", "brand")


@dataclass
class Constraints:
    """What a customer asked for, read from their words (and refined by follow-ups).

    Prices are in ``currency``: the one the customer named, else the shop's
    (``shop_currency``); a product priced in another currency never meets a price.
    ``sold_out_ok``: the customer said sold-out products are fine; otherwise only
    products in stock are shown. ``exclude``: SKUs not to show again.
    """

    min_price: Decimal | None = None
    max_price: Decimal | None = None
    around: Decimal | None = None
    currency: str = "USD"
    shop_currency: str = "USD"
    categories: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    colours: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)
    sold_out_ok: bool = False
    exclude: list[str] = field(default_factory=list)
    impossible: str | None = None

    @property
    def priced(self) -> bool:
        return self.min_price is not None or self.max_price is not None

    def money(self, amount: Decimal) -> str:
        return money(amount, self.currency)

    def describe_price(self, *, note_currency: bool = False) -> str:
        if self.around is not None:
            text = f"around {self.money(self.around)}"
        elif self.min_price is not None and self.max_price is not None:
            low, high = self.money(self.min_price), self.money(self.max_price)
            text = f"between {low} and {high}"
        elif self.max_price is not None:
            text = f"under {self.money(self.max_price)}"
        elif self.min_price is not None:
            text = f"over {self.money(self.min_price)}"
        else:
            return ""
        if note_currency and self.currency != self.shop_currency:
            # Compared only with products priced in that currency; say so.
            text += (
                f" (priced in {self.currency}; our prices are in {self.shop_currency})"
            )
        return text

    def describe_one(self, name: str, *, unmet: bool = False) -> str:
        """One constraint in words: "under $20", "in red", "in size M"; an unmet
        budget in another currency than the shop's says so."""
        if name == "price":
            return self.describe_price(note_currency=unmet)
        if name == "colour":
            return "in " + " or ".join(self.colours)
        if name == "size":
            return "in size " + " or ".join(self.sizes)
        if name == "material":
            return "in " + " or ".join(self.materials)
        if name == "brand":
            return "by " + " or ".join(self.brands)
        if name == "category":
            return "in " + " or ".join(self.categories)
        raise ValueError(f"no constraint named {name!r}")

    def asked(self) -> list[str]:
        """The relaxable constraints the customer gave, in the order they're dropped."""
        given = {
            "price": self.priced,
            "colour": bool(self.colours),
            "size": bool(self.sizes),
            "material": bool(self.materials),
            "brand": bool(self.brands),
        }
        return [name for name in RELAXABLE if given[name]]

    def describe(self) -> str:
        """A short phrase for a card's "why", e.g. 'in Jackets, under $100, in red'."""
        names = (["category"] if self.categories else []) + self.asked()
        parts = [self.describe_one(name) for name in names]
        if self.sold_out_ok:
            parts.append("sold-out items included")
        return ", ".join(parts)

    def without(self, *names: str) -> Constraints:
        """These constraints, less the named ones (to find the nearest products)."""
        cleared: dict[str, Any] = {}
        for name in names:
            if name == "price":
                cleared.update(min_price=None, max_price=None, around=None)
            else:
                attribute = {"colour": "colours", "size": "sizes"}.get(name, name + "s")
                cleared[attribute] = []
        return replace(self, **cleared)

    def unmet_by(self, product: Product) -> list[str]:
        """The constraints ``product`` does not meet ("category", "stock", "price"…)."""
        unmet = []
        if product.sku in self.exclude or not product.active:
            unmet.append("excluded")
        if self.categories and product.category not in self.categories:
            unmet.append("category")
        if not self.sold_out_ok and product.stock <= 0:
            unmet.append("stock")
        if self.priced and not (
            product.currency.upper() == self.currency
            and (self.min_price is None or product.price >= self.min_price)
            and (self.max_price is None or product.price <= self.max_price)
        ):
            unmet.append("price")
        if self.colours and not set(self.colours) & set(product.colours):
            unmet.append("colour")
        sizes = {s.upper() for s in product.sizes}
        if self.sizes and not {s.upper() for s in self.sizes} & sizes:
            unmet.append("size")
        made_of = f"{product.material} {product.name}".lower()
        if self.materials and not any(m in made_of for m in self.materials):
            unmet.append("material")
        if self.brands and product.brand not in self.brands:
            unmet.append("brand")
        return unmet

    def to_state(self) -> dict[str, Any]:
        """As plain JSON for the conversation's state."""
        state: dict[str, Any] = {}
        for name, value in vars(self).items():
            if isinstance(value, Decimal):
                state[name] = str(value)
            elif value not in (None, [], False):
                state[name] = value
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Constraints:
        values: dict[str, Any] = {}
        for name, value in state.items():
            if name in ("min_price", "max_price", "around"):
                values[name] = Decimal(str(value))
            elif name in cls.__dataclass_fields__:
                values[name] = list(value) if isinstance(value, list) else value
        return cls(**values)


def _price(raw: str) -> Decimal:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?", raw):
        raw = raw.replace(",", "")
    return Decimal(raw.replace(",", "."))


def _currency(mark: str | None, shop_currency: str) -> str | None:
    if not mark:
        return None
    code = CURRENCY_WORDS.get(mark.lower(), mark.upper())
    if code == "$":
        return shop_currency if shop_currency in DOLLARS else "USD"
    return code


class _Amount(NamedTuple):
    value: Decimal
    currency: str | None
    start: int
    end: int
    negative: bool


def _amounts(text: str, shop_currency: str) -> list[_Amount]:
    found = []
    for match in AMOUNT.finditer(text):
        start, end = match.span()
        if NOT_A_PRICE.match(text, end) and not match.group("after"):
            continue
        if SIZE_BEFORE.search(text[max(0, start - 6) : start]):
            continue
        try:
            value = _price(match.group("number"))
        except InvalidOperation:
            continue
        currency = _currency(
            match.group("before") or match.group("after"), shop_currency
        )
        negative = text[max(0, start - 1) : start] == "-" and not (
            text[max(0, start - 2) : start - 1].isdigit()
        )
        found.append(_Amount(value, currency, start, end, negative))
    return found


def _read_prices(text: str, found: Constraints) -> None:
    amounts = _amounts(text, found.shop_currency)
    used: set[int] = set()
    named = [a.currency for a in amounts if a.currency]
    if named:
        found.currency = named[0]
    # Ranges first: "between 50 and 80", "from €20 to €40", "$20-$60", "10 to 20".
    for first, second in itertools.pairwise(amounts):
        gap = text[first.end : second.start]
        before = text[max(0, first.start - 12) : first.start]
        if RANGE_JOIN.fullmatch(gap) and (
            RANGE_BEFORE.search(before)
            or (
                gap.strip().lower() in BARE_RANGE_JOINS
                and not MAX_BEFORE.search(before)
                and not MIN_BEFORE.search(before)
            )
        ):
            found.min_price, found.max_price = sorted((first.value, second.value))
            used.update((first.start, second.start))
            break
    for amount in amounts:
        if amount.start in used:
            continue
        before = text[max(0, amount.start - 40) : amount.start]
        after = text[amount.end : amount.end + 30]
        if amount.negative:
            found.impossible = f"nothing costs less than {found.money(Decimal(0))}"
            found.max_price = -amount.value
        elif AROUND_BEFORE.search(before) or AROUND_AFTER.match(after):
            spread = (amount.value * AROUND_SPREAD).quantize(Decimal("0.01"))
            found.around = amount.value
            found.min_price = amount.value - spread
            found.max_price = amount.value + spread
        elif MIN_BEFORE.search(before) or MIN_AFTER.match(after):
            found.min_price = amount.value
        elif (
            MAX_BEFORE.search(before)
            or MAX_AFTER.match(after)
            or amount.currency is not None  # "€80", "50 bucks": a budget
        ):
            if amount.value <= 0:
                found.impossible = (
                    f"nothing costs less than {found.money(amount.value)}"
                )
            found.max_price = amount.value
    if (
        found.impossible is None
        and found.around is None
        and found.min_price is not None
        and found.max_price is not None
        and found.min_price > found.max_price
    ):
        low, high = found.money(found.min_price), found.money(found.max_price)
        found.impossible = f"a price over {low} and under {high} can't both hold"


def read_sizes(text: str) -> list[str]:
    """The sizes a message asks for: "size M", "in XL", "a 42", "in medium"."""
    sizes: list[str] = []
    for pattern in SIZE_PATTERNS:
        for match in pattern.finditer(text):
            raw = match.group(1).lower().replace("-", " ")
            size = SIZE_NAMES.get(raw, raw.upper())
            if size not in sizes:
                sizes.append(size)
    return sizes


def read_colours(text: str) -> list[str]:
    colours: list[str] = []
    for match in COLOUR_WORDS.finditer(text):
        colour = COLOURS[match.group(1).lower()]
        if colour not in colours:
            colours.append(colour)
    return colours


def parse_constraints(
    text: str, *, brands: Sequence[str] | None = None, currency: str = "USD"
) -> Constraints:
    """Read price, category, brand, stock, colour, size and material from a message.

    Args:
        text: the customer's words, as they typed them.
        brands: the brands the catalog carries (matched as whole words).
        currency: the shop's currency, which "$", "dollars" or a bare budget mean.
    """
    currency = currency.upper()
    found = Constraints(currency=currency, shop_currency=currency)
    digits = words_to_digits(text)
    _read_prices(digits, found)
    lowered = text.lower()
    for category, words in CATEGORY_WORDS.items():
        if re.search(rf"\b(?:{words})\b", lowered):
            found.categories.append(category)
    for brand in brands or []:
        if re.search(rf"\b{re.escape(brand.lower())}\b", lowered):
            found.brands.append(brand)
    found.sold_out_ok = bool(SOLD_OUT_OK.search(text))
    found.colours = read_colours(text)
    found.sizes = read_sizes(digits)
    for match in MATERIAL_WORDS.finditer(text):
        material = match.group(1).lower()
        if material not in found.materials:
            found.materials.append(material)
    return found


# --- searching ---------------------------------------------------------------------


class Found(NamedTuple):
    """What a search found: the products, best first, and the constraints read.

    ``unmet``: the constraints no product could meet, in words ("under $20"); when
    it is not empty, ``products`` are the nearest alternatives that meet the rest.
    """

    products: list[Product]
    constraints: Constraints
    unmet: list[str] = []


# Products for constraints; the second argument names the constraint dropped (to
# rank by closeness to it), None when none was.
Runner = Callable[[Constraints, str | None], list[Product]]


def nearest(constraints: Constraints, run: Runner) -> Found:
    """Products meeting all the constraints, else the nearest alternatives.

    Drops one constraint at a time (price first, then colour, size, material,
    brand), then all of them; category and stock always hold.
    """
    if constraints.impossible:
        return Found([], constraints)
    if products := run(constraints, None):
        return Found(products, constraints)
    asked = constraints.asked()
    for name in asked:
        if products := run(constraints.without(name), name):
            unmet = [constraints.describe_one(name, unmet=True)]
            return Found(products, constraints, unmet)
    if len(asked) > 1:
        first = asked[0]
        if products := run(constraints.without(*asked), first):
            return Found(
                products,
                constraints,
                [constraints.describe_one(n, unmet=True) for n in asked],
            )
    return Found([], constraints)


def closest_first(
    products: Iterable[Product], constraints: Constraints, dropped: str | None
) -> list[Product]:
    """With the price dropped, the products nearest the budget come first."""
    if dropped != "price":
        return list(products)
    target = constraints.around or constraints.max_price or constraints.min_price
    if target is None:
        return list(products)
    # A price in another currency is no nearer for its number: those go last.
    return sorted(
        products,
        key=lambda p: (
            p.currency.upper() != constraints.currency,
            abs(p.price - target),
        ),
    )


def filtered(constraints: Constraints) -> QuerySet[Product]:
    products = Product.objects.filter(active=True)
    if constraints.exclude:
        products = products.exclude(sku__in=constraints.exclude)
    if constraints.categories:
        products = products.filter(category__in=constraints.categories)
    if constraints.brands:
        products = products.filter(brand__in=constraints.brands)
    if constraints.priced:
        products = products.filter(currency__iexact=constraints.currency)
    if constraints.min_price is not None:
        products = products.filter(price__gte=constraints.min_price)
    if constraints.max_price is not None:
        products = products.filter(price__lte=constraints.max_price)
    if not constraints.sold_out_ok:
        products = products.filter(stock__gt=0)
    if constraints.colours:
        colour = Q()
        for name in constraints.colours:
            colour |= Q(attributes__colours__contains=[name])
            colour |= Q(attributes__colour__iexact=name)
        products = products.filter(colour)
    if constraints.sizes:
        size = Q()
        for name in constraints.sizes:
            size |= Q(attributes__sizes__contains=[name])
            size |= Q(attributes__sizes__contains=[name.lower()])
        products = products.filter(size)
    if constraints.materials:
        material = Q()
        for name in constraints.materials:
            material |= Q(attributes__material__icontains=name)
            material |= Q(name__icontains=name)
        products = products.filter(material)
    return products


def known_brands() -> list[str]:
    return sorted(
        b
        for b in Product.objects.filter(active=True)
        .values_list("brand", flat=True)
        .distinct()
        if b
    )


def _ranked(products: QuerySet[Product], text: str, *, limit: int) -> list[Product]:
    if products.filter(embedding__isnull=False).exists():
        vector = get_encoder().encode([text])[0]
        ranked = (
            products.filter(embedding__isnull=False)
            .annotate(distance=CosineDistance("embedding", vector))
            .order_by("distance")
        )
        return list(ranked[:limit])
    # Embeddings not computed yet (a fresh import): fall back to words.
    words = [w for w in re.findall(r"\w{3,}", text.lower())]
    query = Q()
    for word in words:
        query |= Q(name__icontains=word) | Q(description__icontains=word)
    matching = products.filter(query).order_by("-stock")
    return list((matching if matching.exists() else products)[:limit])


# With a constraint dropped, this many of the closest in meaning are reordered by
# closeness to the budget.
NEAREST_POOL = 4


def search(
    text: str,
    *,
    constraints: Constraints | None = None,
    currency: str = "USD",
    limit: int = 3,
) -> Found:
    """Products for a message, best first, with the constraints read from it.

    Args:
        text: what the customer asked for (ranked by meaning).
        constraints: already read (a refined follow-up); read from ``text`` if None.
        currency: the shop's currency (what "$", "dollars" or a bare budget mean).
        limit: at most this many products.
    """
    if constraints is None:
        constraints = parse_constraints(text, brands=known_brands(), currency=currency)

    def run(wanted: Constraints, dropped: str | None) -> list[Product]:
        pool = limit if dropped is None else limit * NEAREST_POOL
        picked = _ranked(filtered(wanted), text, limit=pool)
        return closest_first(picked, constraints, dropped)[:limit]

    return nearest(constraints, run)


def products_by_sku(skus: Sequence[str]) -> list[Product]:
    """The products with these SKUs, in the order given (unknown ones left out)."""
    found = {p.sku: p for p in Product.objects.filter(sku__in=list(skus))}
    return [found[sku] for sku in skus if sku in found]


NAME_WORD = re.compile(r"[a-z0-9]+")
# Words too common in product names to tell one product from another.
COMMON_NAME_WORDS = {"the", "and", "for", "with", "kids", "women", "men", "set", "of"}


def best_named(text: str, products: Iterable[Product]) -> Product | None:
    """The product whose name the message mentions best ("is the ridge boot in
    stock" → Ridge Hiking Boots), or None when no name is mentioned enough."""
    said = set(NAME_WORD.findall(text.lower()))
    said |= {w.rstrip("s") for w in said}
    best: tuple[float, int, Product] | None = None
    for product in products:
        words = [w for w in NAME_WORD.findall(product.name.lower())]
        distinctive = [w for w in words if w not in COMMON_NAME_WORDS]
        hits = [w for w in distinctive if w in said or w.rstrip("s") in said]
        if not hits:
            continue
        # A name word that is not a category word ("ridge", not "boots") must be hit.
        if all(
            re.fullmatch(r"(?:" + "|".join(CATEGORY_WORDS.values()) + ")", w)
            for w in hits
        ):
            continue
        missing_qualifier = ("kids" in words) != ("kid" in said or "kids" in said)
        score = len(hits) / len(distinctive) - (0.3 if missing_qualifier else 0)
        candidate = (score, -len(words), product)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None and best[0] >= 0.3 else None


def product_named(text: str) -> Product | None:
    """The catalog product a message names, if it names one."""
    words = {w for w in NAME_WORD.findall(text.lower()) if len(w) >= 3}
    words -= COMMON_NAME_WORDS
    if not words:
        return None
    query = Q()
    for word in words:
        query |= Q(name__icontains=word)
    candidates = Product.objects.filter(active=True).filter(query)[:200]
    return best_named(text, candidates)
