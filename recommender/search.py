"""Catalog search from a chat message: constraints as SQL filters, meaning by vectors.

"a waterproof jacket under $100 in stock" → category Jackets, price < 100, stock > 0,
then the closest products to the message's embedding among those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet
from pgvector.django import CosineDistance

from ml.encoder import get_encoder
from recommender.models import Product

# A number starts where no digit precedes it and takes its digits possessively: an
# unanchored search would otherwise try every position of a long digit run and give
# the digits back one by one at each, which is quadratic (4,000 digits, 2 s of CPU).
NUMBER = r"\$?\s?(?<!\d)(\d++(?:[.,]\d{1,2})?)\s?(?:\$|usd|dollars?|bucks)?"
BETWEEN = re.compile(
    rf"\b(?:between|from)\s+{NUMBER}\s*(?:and|to|-)\s*{NUMBER}"
    rf"|{NUMBER}\s*(?:-|\u2013|to)\s*{NUMBER}(?=\s|$|[.,!?])",
    re.IGNORECASE,
)
UNDER = re.compile(
    rf"(?:\bunder|\bbelow|\bless than|\bcheaper than|\bmax(?:imum)?|\bat most|"
    rf"\bup to|\bno more than|\bwithin|<)\s*(-?){NUMBER}",
    re.IGNORECASE,
)
OVER = re.compile(
    rf"(?:\bover|\babove|\bmore than|\bat least|\bmin(?:imum)?|\bstarting at|>)"
    rf"\s*{NUMBER}",
    re.IGNORECASE,
)
IN_STOCK = re.compile(
    r"\b(in stock|available (?:now|today)|ships? (?:now|today)|not sold out)\b",
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


@dataclass
class Constraints:
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    categories: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    in_stock: bool = False
    impossible: str | None = None

    def describe(self) -> str:
        """A short phrase for a card's "why", e.g. 'in Jackets, under $100'."""
        parts = []
        if self.categories:
            parts.append("in " + " or ".join(self.categories))
        if self.brands:
            parts.append("by " + " or ".join(self.brands))
        if self.min_price is not None and self.max_price is not None:
            parts.append(f"between ${self.min_price} and ${self.max_price}")
        elif self.max_price is not None:
            parts.append(f"under ${self.max_price}")
        elif self.min_price is not None:
            parts.append(f"over ${self.min_price}")
        if self.in_stock:
            parts.append("in stock")
        return ", ".join(parts)


def _price(raw: str) -> Decimal:
    return Decimal(raw.replace(",", "."))


def parse_constraints(text: str, *, brands: list[str] | None = None) -> Constraints:
    """Read price, category, brand and stock constraints from a message."""
    found = Constraints()
    if match := BETWEEN.search(text):
        low, high = (g for g in match.groups() if g is not None)
        found.min_price, found.max_price = sorted((_price(low), _price(high)))
    else:
        if match := UNDER.search(text):
            negative, amount = match.group(1), _price(match.group(2))
            if negative or amount <= 0:
                found.impossible = f"nothing costs less than ${amount}"
            found.max_price = amount
        if match := OVER.search(text):
            found.min_price = _price(match.group(1))
        if (
            found.min_price is not None
            and found.max_price is not None
            and found.min_price >= found.max_price
        ):
            found.impossible = (
                f"a price over ${found.min_price} and under ${found.max_price} "
                "can't both hold"
            )
    lowered = text.lower()
    for category, words in CATEGORY_WORDS.items():
        if re.search(rf"\b(?:{words})\b", lowered):
            found.categories.append(category)
    for brand in brands or []:
        if re.search(rf"\b{re.escape(brand.lower())}\b", lowered):
            found.brands.append(brand)
    found.in_stock = bool(IN_STOCK.search(text))
    return found


def filtered(constraints: Constraints) -> QuerySet[Product]:
    products = Product.objects.filter(active=True)
    if constraints.categories:
        products = products.filter(category__in=constraints.categories)
    if constraints.brands:
        products = products.filter(brand__in=constraints.brands)
    if constraints.min_price is not None:
        products = products.filter(price__gte=constraints.min_price)
    if constraints.max_price is not None:
        products = products.filter(price__lte=constraints.max_price)
    if constraints.in_stock:
        products = products.filter(stock__gt=0)
    return products


def known_brands() -> list[str]:
    return sorted(
        b
        for b in Product.objects.filter(active=True)
        .values_list("brand", flat=True)
        .distinct()
        if b
    )


def search(text: str, *, limit: int = 3) -> tuple[list[Product], Constraints]:
    """Products for a message, best first, and the constraints read from it."""
    constraints = parse_constraints(text, brands=known_brands())
    if constraints.impossible:
        return [], constraints
    products = filtered(constraints)
    if products.filter(embedding__isnull=False).exists():
        vector = get_encoder().encode([text])[0]
        ranked = (
            products.filter(embedding__isnull=False)
            .annotate(distance=CosineDistance("embedding", vector))
            .order_by("distance")
        )
        return list(ranked[:limit]), constraints
    # Embeddings not computed yet (a fresh import): fall back to words.
    words = [w for w in re.findall(r"\w{3,}", text.lower())]
    query = Q()
    for word in words:
        query |= Q(name__icontains=word) | Q(description__icontains=word)
    return list(products.filter(query).order_by("-stock")[:limit]), constraints
