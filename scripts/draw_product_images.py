"""Draw the demo catalog's product images as SVG files (run once; output committed).

python scripts/draw_product_images.py recommender/demo/catalog.jsonl
"""

from __future__ import annotations

import hashlib
import json
import sys
from html import escape
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "recommender/static/recommender/products"
PALETTE = [
    "#2563eb",
    "#059669",
    "#d97706",
    "#dc2626",
    "#7c3aed",
    "#0891b2",
    "#be185d",
    "#4d7c0f",
    "#b45309",
    "#1d4ed8",
]
ICONS = {
    "Jackets": "M70 40 L100 30 L130 40 L150 70 L135 80 L130 65 L130 160 L70 160 L70 65 "
    "L65 80 L50 70 Z",
    "Shoes": "M40 120 L90 110 L110 90 L130 110 L160 120 L160 140 L40 140 Z",
    "Bags": "M55 70 L145 70 L155 160 L45 160 Z M80 70 Q100 30 120 70",
    "Kitchen": "M50 90 L150 90 L140 150 L60 150 Z M150 100 L175 95",
    "Electronics": (
        "M60 100 Q60 40 100 40 Q140 40 140 100 M55 95 L70 95 L70 140 L55 140 Z "
        "M130 95 L145 95 L145 140 L130 140 Z"
    ),
    "Home": "M40 90 L100 45 L160 90 L160 160 L40 160 Z",
    # A tent with a flag on the ridge; the door is a hole (reverse winding).
    "Outdoor": (
        "M25 160 L100 40 L175 160 Z M100 92 L78 160 L122 160 Z "
        "M100 40 L100 22 L122 29 L100 36"
    ),
    # Sunglasses: two lenses, a bridge and the temples.
    "Accessories": (
        "M28 82 L92 82 L88 122 Q62 138 36 122 Z M108 82 L172 82 L164 122 "
        "Q138 138 112 122 Z M92 90 Q100 80 108 90 M28 82 L18 76 M172 82 L182 76"
    ),
    # A pump bottle with a label (the label is a hole, reverse winding).
    "Beauty": (
        "M68 86 L132 86 L132 160 Q132 168 124 168 L76 168 Q68 168 68 160 Z "
        "M82 106 L82 146 L118 146 L118 106 Z M86 86 L86 68 L114 68 L114 86 Z "
        "M96 68 L96 50 L104 50 L104 68 Z M88 50 L88 40 L138 40 L138 48 L104 48 Z"
    ),
    # A short-sleeved crew-neck t-shirt.
    "Sportswear": (
        "M76 38 Q100 58 124 38 L168 60 L152 94 L136 86 L136 164 L64 164 L64 86 "
        "L48 94 L32 60 Z"
    ),
}
DEFAULT_ICON = "M60 60 L140 60 L140 140 L60 140 Z"


def draw(product: dict[str, str]) -> str:
    digest = int(hashlib.sha256(product["sku"].encode()).hexdigest(), 16)
    color = PALETTE[digest % len(PALETTE)]
    icon = ICONS.get(product["category"], DEFAULT_ICON)
    name = escape(product["name"])
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" role="img" '
        f'aria-label="{name}"><rect width="200" height="200" rx="16" fill="{color}" '
        'fill-opacity="0.12"/>'
        f'<path d="{icon}" fill="{color}" fill-opacity="0.85" stroke="{color}" '
        'stroke-width="4" stroke-linejoin="round"/>'
        f'<text x="100" y="188" font-family="sans-serif" font-size="11" '
        f'text-anchor="middle" fill="#1f2937">{escape(product["brand"])}</text></svg>\n'
    )


def main(path: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for line in Path(path).read_text().splitlines():
        if line.strip():
            product = json.loads(line)
            (OUT / f"{product['sku']}.svg").write_text(draw(product))


if __name__ == "__main__":
    main(sys.argv[1])
