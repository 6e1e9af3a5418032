"""The demo shop's product images show what the product is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recommender.services import DEMO_CATALOG

STATIC = Path(__file__).resolve().parent.parent / "recommender/static"
KIND = re.compile(r'<svg[^>]*\bdata-kind="([a-z_]+)"')

# What a product of each category may be drawn as.
CATEGORY_KINDS = {
    "Jackets": {"jacket", "vest", "poncho", "coat"},
    "Shoes": {"sneaker", "boot", "sandal"},
    "Bags": {"backpack", "duffel", "suitcase", "tote", "pouch", "messenger"},
    "Kitchen": {
        *("pan", "mug", "coffee", "kettle", "knife", "board", "apron"),
        *("utensils", "scale", "storage"),
    },
    "Electronics": {
        *("charger", "headphones", "earbuds", "speaker", "reader", "watch"),
        *("camera", "keyboard", "mouse", "turntable", "tag"),
    },
    "Home": {
        *("blanket", "pillow", "candle", "lamp", "bulb", "plant", "bottle"),
        *("towel", "rug", "basket", "clock"),
    },
    "Outdoor": {
        *("tent", "sleeping_bag", "mat", "pillow", "stove", "canister", "pan"),
        *("mug", "headlamp", "poles", "bottle", "chair", "hammock", "cooler"),
        *("first_aid", "compass", "fire"),
    },
    "Accessories": {
        *("beanie", "cap", "hat", "gloves", "scarf", "sunglasses"),
        *("glasses_case", "belt", "wallet", "keyring"),
    },
    "Beauty": {"tube", "stick", "dropper", "soap", "jar", "pump", "gift"},
    "Sportswear": {
        *("tshirt", "longsleeve", "tank", "leggings", "shorts", "socks"),
        *("bra", "swimsuit"),
    },
}
# A word in the name → what the picture must show (checked where the word occurs).
NAMED = [
    (r"\bwallet\b", "wallet"),
    (r"card holder", "wallet"),
    (r"sunglasses$", "sunglasses"),
    (r"sneakers", "sneaker"),
    (r"\bboots\b", "boot"),
    (r"\bbackpack\b", "backpack"),
    (r"\bjacket\b", "jacket"),
    (r"\bmugs?\b", "mug"),
    (r"\btent\b", "tent"),
    (r"headphones", "headphones"),
    (r"\bbelt\b$", "belt"),
    (r"beanie", "beanie"),
    (r"socks", "socks"),
    (r"skillet", "pan"),
]


def catalog() -> list[dict[str, str]]:
    lines = Path(DEMO_CATALOG).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def image_kind(product: dict[str, str]) -> str:
    path = STATIC / "recommender/products" / f"{product['sku']}.svg"
    assert path.exists(), f"{product['sku']} has no image"
    found = KIND.search(path.read_text())
    assert found, f"{path.name} does not say what it shows"
    return found.group(1)


@pytest.mark.parametrize("product", catalog(), ids=lambda p: p["sku"])
def test_every_demo_product_has_an_image_of_its_category(product):
    assert image_kind(product) in CATEGORY_KINDS[product["category"]]


def test_a_product_is_drawn_as_what_its_name_says():
    checked = 0
    for product in catalog():
        for words, kind in NAMED:
            if re.search(words, product["name"].lower()):
                assert image_kind(product) == kind, product["name"]
                checked += 1
    assert checked >= 40  # the table above really covers the catalog


def test_a_wallet_is_not_drawn_as_sunglasses():
    wallets = [p for p in catalog() if "Wallet" in p["name"]]
    sunglasses = [p for p in catalog() if p["name"].endswith("Sunglasses")]
    assert wallets and sunglasses
    assert {image_kind(p) for p in wallets} == {"wallet"}
    assert {image_kind(p) for p in sunglasses} == {"sunglasses"}
