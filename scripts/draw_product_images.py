"""Draw the demo catalog's product images as SVG files (run once; output committed).

python scripts/draw_product_images.py recommender/demo/catalog.jsonl

Each product is drawn as its kind (a wallet, sunglasses, a sneaker, a mug…), found
from words in its name; a name that says nothing more specific gets its category's
usual kind. The kind is written in the SVG (``data-kind``) so a test can check that
every image belongs to its product's category.
"""

from __future__ import annotations

import hashlib
import json
import re
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

# The drawings, on a 200 x 200 canvas: SVG elements filled and stroked in the
# product's colour ({c}); "hole" marks parts drawn in the background colour.
SHAPES: dict[str, str] = {
    "jacket": '<path d="M70 40 L100 52 L130 40 L160 70 L146 84 L136 74 L136 164 '
    'L64 164 L64 74 L54 84 L40 70 Z"/><path class="line" d="M100 52 L100 164"/>',
    "vest": '<path d="M72 38 L100 56 L128 38 L138 70 L138 164 L62 164 L62 70 Z"/>'
    '<path class="line" d="M100 56 L100 164"/>',
    "poncho": '<path d="M100 36 L170 150 L30 150 Z"/><circle class="hole" cx="100" '
    'cy="64" r="12"/>',
    "coat": '<path d="M70 36 L100 48 L130 36 L160 66 L146 80 L138 72 L140 172 L60 '
    '172 L62 72 L54 80 L40 66 Z"/><circle class="hole" cx="92" cy="90" r="4"/>'
    '<circle class="hole" cx="92" cy="118" r="4"/><circle class="hole" cx="92" '
    'cy="146" r="4"/>',
    "sneaker": '<path d="M30 130 L34 96 Q60 100 84 86 L100 76 Q130 108 170 114 '
    'Q176 124 172 136 L30 136 Z"/><path class="line" d="M30 142 L172 142 M72 92 '
    'L84 104 M84 86 L96 98"/>',
    "boot": '<path d="M62 40 L106 40 L108 120 Q150 124 166 140 L166 158 L58 158 '
    'L58 110 Z"/><path class="line" d="M58 164 L166 164 M66 70 L100 70 M66 90 '
    'L100 90"/>',
    "sandal": '<path d="M40 140 Q40 120 70 120 L150 120 Q172 120 172 140 Q172 150 '
    '160 150 L52 150 Q40 150 40 140 Z"/><path class="line" d="M80 120 Q96 86 112 '
    '120 M120 120 Q136 90 150 120"/>',
    "backpack": '<rect x="56" y="48" width="88" height="118" rx="26"/><rect '
    'class="hole" x="72" y="110" width="56" height="34" rx="8"/><path class="line" '
    'd="M80 48 Q100 24 120 48"/>',
    "duffel": '<rect x="28" y="84" width="144" height="72" rx="32"/><path '
    'class="line" d="M70 84 Q100 48 130 84 M44 120 L156 120"/>',
    "suitcase": '<rect x="56" y="54" width="88" height="116" rx="12"/><path '
    'class="line" d="M84 54 L84 36 L116 36 L116 54 M78 70 L78 154 M122 70 L122 154 '
    'M72 176 L72 182 M128 176 L128 182"/>',
    "tote": '<path d="M50 80 L150 80 L140 168 L60 168 Z"/><path class="line" '
    'd="M76 80 Q76 36 100 36 Q124 36 124 80"/>',
    "pouch": '<rect x="34" y="70" width="132" height="84" rx="14"/><path '
    'class="line" d="M40 88 L160 88"/><circle class="hole" cx="140" cy="88" r="5"/>',
    "messenger": '<rect x="36" y="82" width="128" height="82" rx="10"/><path '
    'class="hole" d="M36 82 L164 82 L164 124 L36 124 Z"/><path class="line" '
    'd="M36 82 L100 30 L164 82"/>',
    "mug": '<path d="M52 64 L132 64 L132 150 Q132 164 118 164 L66 164 Q52 164 52 '
    '150 Z"/><path class="line" d="M132 84 Q164 84 164 108 Q164 132 132 132 M78 '
    '40 Q70 50 80 58 M102 40 Q94 50 104 58"/>',
    "coffee": '<path d="M64 40 L136 40 L120 100 L80 100 Z"/><path d="M60 108 L140 '
    '108 L140 168 L60 168 Z"/><path class="line" d="M140 124 Q160 124 160 140 Q160 '
    '156 140 156"/>',
    "pan": '<circle cx="86" cy="110" r="56"/><circle class="hole" cx="86" cy="110" '
    'r="40"/><path d="M140 102 L186 94 L188 108 L140 118 Z"/>',
    "knife": '<path d="M26 120 L122 80 Q150 76 132 104 L46 134 Z"/><path d="M126 '
    '96 L180 76 L186 90 L134 112 Z"/>',
    "board": '<rect x="36" y="60" width="128" height="90" rx="14"/><circle '
    'class="hole" cx="144" cy="80" r="8"/><path class="line" d="M50 164 L150 '
    '164"/>',
    "kettle": '<path d="M56 164 L66 80 L134 80 L144 164 Z"/><path class="line" '
    'd="M66 96 Q30 70 34 48 M134 100 Q160 110 160 140 M80 80 Q100 46 120 80"/>',
    "apron": '<path d="M70 30 L130 30 L130 70 L158 84 L146 176 L54 176 L42 84 L70 '
    '70 Z"/><rect class="hole" x="78" y="110" width="44" height="30" rx="6"/>',
    "utensils": '<path d="M60 30 L60 90 M50 30 L50 70 Q50 90 60 90 Q70 90 70 70 '
    'L70 30 M60 90 L60 170" class="line"/><ellipse cx="110" cy="60" rx="14" '
    'ry="28"/><path class="line" d="M110 88 L110 170"/><path d="M140 30 L156 30 '
    'L156 170 L146 170 L146 90 L140 90 Z"/>',
    "scale": '<rect x="34" y="96" width="132" height="60" rx="10"/><rect '
    'class="hole" x="112" y="110" width="40" height="22" rx="4"/><path '
    'class="line" d="M50 84 L150 84"/>',
    "storage": '<rect x="40" y="90" width="120" height="74" rx="10"/><rect x="34" '
    'y="72" width="132" height="18" rx="6"/><rect x="60" y="40" width="80" '
    'height="26" rx="6"/>',
    "headphones": '<path class="line" d="M52 112 Q52 40 100 40 Q148 40 148 112"/>'
    '<rect x="40" y="100" width="30" height="52" rx="10"/><rect x="130" y="100" '
    'width="30" height="52" rx="10"/>',
    "earbuds": '<circle cx="72" cy="84" r="22"/><rect x="64" y="100" width="16" '
    'height="58" rx="8"/><circle cx="132" cy="84" r="22"/><rect x="124" y="100" '
    'width="16" height="58" rx="8"/>',
    "speaker": '<rect x="54" y="36" width="92" height="132" rx="18"/><circle '
    'class="hole" cx="100" cy="122" r="28"/><circle class="hole" cx="100" cy="70" '
    'r="12"/>',
    "charger": '<rect x="56" y="70" width="88" height="96" rx="14"/><path d="M78 70 '
    'L78 38 L90 38 L90 70 Z M110 70 L110 38 L122 38 L122 70 Z"/><path class="hole" '
    'd="M104 90 L88 122 L102 122 L96 148 L114 112 L100 112 Z"/>',
    "reader": '<rect x="52" y="30" width="96" height="140" rx="12"/><rect '
    'class="hole" x="64" y="44" width="72" height="100" rx="4"/><path class="line" '
    'd="M76 64 L124 64 M76 84 L124 84 M76 104 L112 104"/>',
    "watch": '<rect x="82" y="28" width="36" height="144" rx="12"/><circle cx="100" '
    'cy="100" r="38"/><circle class="hole" cx="100" cy="100" r="28"/><path '
    'class="line" d="M100 100 L100 82 M100 100 L114 106"/>',
    "camera": '<rect x="30" y="66" width="140" height="96" rx="14"/><path d="M70 66 '
    'L80 46 L120 46 L130 66 Z"/><circle class="hole" cx="100" cy="114" r="30"/>'
    '<circle cx="100" cy="114" r="16"/>',
    "keyboard": '<rect x="24" y="70" width="152" height="66" rx="10"/><path '
    'class="line" d="M40 88 L160 88 M40 104 L160 104 M64 120 L136 120"/>',
    "mouse": '<rect x="64" y="40" width="72" height="124" rx="36"/><path '
    'class="line" d="M100 40 L100 88 M64 88 L136 88"/>',
    "turntable": '<rect x="26" y="50" width="148" height="110" rx="12"/><circle '
    'class="hole" cx="90" cy="105" r="42"/><circle cx="90" cy="105" r="10"/><path '
    'class="line" d="M156 66 L150 120 L120 132"/>',
    "tag": '<circle cx="100" cy="100" r="46"/><circle class="hole" cx="100" '
    'cy="100" r="14"/><path class="line" d="M100 54 L100 30"/>',
    "blanket": '<path d="M40 60 L160 60 L160 150 Q130 130 100 150 Q70 170 40 150 '
    'Z"/><path class="line" d="M40 82 L160 82 M40 104 L160 104"/>',
    "pillow": '<path d="M40 70 Q100 56 160 70 Q172 110 160 150 Q100 164 40 150 Q28 '
    '110 40 70 Z"/>',
    "candle": '<rect x="66" y="84" width="68" height="86" rx="8"/><path d="M100 34 '
    'Q118 58 100 74 Q82 58 100 34 Z"/><path class="line" d="M100 74 L100 84"/>',
    "lamp": '<path d="M62 40 L138 40 L156 100 L44 100 Z"/><path class="line" '
    'd="M100 100 L100 156 M66 164 L134 164"/>',
    "bulb": '<circle cx="100" cy="82" r="46"/><rect x="80" y="124" width="40" '
    'height="36" rx="6"/><path class="line" d="M84 138 L116 138 M84 150 L116 '
    '150"/>',
    "plant": '<path d="M64 118 L136 118 L126 172 L74 172 Z"/><path d="M100 118 Q70 '
    '90 70 56 Q96 66 100 118 Z M100 118 Q130 86 140 50 Q108 64 100 118 Z"/>',
    "towel": '<rect x="50" y="36" width="100" height="132" rx="8"/><path '
    'class="line" d="M50 132 L150 132 M50 146 L150 146"/>',
    "rug": '<rect x="30" y="60" width="140" height="90" rx="6"/><rect class="hole" '
    'x="48" y="76" width="104" height="58" rx="4"/><path class="line" d="M30 66 '
    "L20 66 M30 100 L20 100 M30 144 L20 144 M170 66 L180 66 M170 100 L180 100 M170 "
    '144 L180 144"/>',
    "basket": '<path d="M40 84 L160 84 L148 164 L52 164 Z"/><path class="line" '
    'd="M46 110 L154 110 M50 136 L150 136"/>',
    "clock": '<circle cx="100" cy="100" r="66"/><circle class="hole" cx="100" '
    'cy="100" r="52"/><path class="line" d="M100 100 L100 64 M100 100 L128 '
    '112"/>',
    "tent": '<path d="M25 160 L100 40 L175 160 Z"/><path class="hole" d="M100 92 '
    'L78 160 L122 160 Z"/>',
    "sleeping_bag": '<rect x="58" y="26" width="84" height="150" rx="38"/><ellipse '
    'class="hole" cx="100" cy="62" rx="26" ry="20"/>',
    "mat": '<rect x="36" y="80" width="128" height="50" rx="24"/><path '
    'class="line" d="M64 80 L64 130 M92 80 L92 130 M120 80 L120 130"/>',
    "stove": '<path d="M70 176 L84 108 L116 108 L130 176 Z"/><rect x="56" y="90" '
    'width="88" height="18" rx="6"/><path d="M100 40 Q118 64 100 84 Q82 64 100 40 '
    'Z"/>',
    "canister": '<rect x="58" y="70" width="84" height="100" rx="20"/><rect x="88" '
    'y="44" width="24" height="26" rx="4"/>',
    "headlamp": '<ellipse class="line" cx="100" cy="100" rx="70" ry="34"/><rect '
    'x="76" y="78" width="48" height="44" rx="10"/><circle class="hole" cx="100" '
    'cy="100" r="12"/>',
    "poles": '<path class="line" d="M70 30 L84 176 M130 30 L116 176"/><rect x="62" '
    'y="28" width="16" height="40" rx="6"/><rect x="122" y="28" width="16" '
    'height="40" rx="6"/>',
    "bottle": '<rect x="72" y="60" width="56" height="112" rx="14"/><rect x="86" '
    'y="32" width="28" height="28" rx="4"/>',
    "chair": '<path class="line" d="M56 170 L144 90 M144 170 L56 90"/><path '
    'd="M56 50 L144 50 L144 96 L56 96 Z"/>',
    "hammock": '<path class="line" d="M20 60 L20 170 M180 60 L180 170"/><path '
    'd="M20 70 Q100 170 180 70 Q100 130 20 70 Z"/>',
    "cooler": '<rect x="36" y="78" width="128" height="88" rx="10"/><rect x="30" '
    'y="62" width="140" height="22" rx="6"/><path class="line" d="M80 62 L80 48 '
    'L120 48 L120 62"/>',
    "first_aid": '<rect x="40" y="62" width="120" height="100" rx="12"/><path '
    'class="hole" d="M90 82 L110 82 L110 102 L130 102 L130 122 L110 122 L110 142 '
    'L90 142 L90 122 L70 122 L70 102 L90 102 Z"/>',
    "compass": '<circle cx="100" cy="100" r="64"/><circle class="hole" cx="100" '
    'cy="100" r="50"/><path d="M100 56 L112 100 L100 144 L88 100 Z"/>',
    "fire": '<path d="M100 30 Q150 90 130 140 Q120 170 100 170 Q80 170 70 140 Q56 '
    '100 86 70 Q90 100 100 100 Q90 60 100 30 Z"/>',
    "beanie": '<path d="M44 130 Q44 56 100 56 Q156 56 156 130 Z"/><rect x="38" '
    'y="126" width="124" height="30" rx="8"/><circle cx="100" cy="46" r="14"/>',
    "cap": '<path d="M50 124 Q50 60 106 60 Q150 64 152 124 Z"/><path d="M146 116 '
    'L186 128 L150 132 Z"/>',
    "hat": '<path d="M66 120 Q66 62 100 62 Q134 62 134 120 Z"/><ellipse cx="100" '
    'cy="124" rx="78" ry="16"/>',
    "gloves": '<path d="M60 170 L60 104 L48 70 L60 66 L70 96 L70 50 L82 50 L82 92 '
    'L86 44 L98 44 L96 92 L104 52 L116 54 L110 100 L112 170 Z"/>',
    "scarf": '<path d="M56 50 Q100 80 144 50 L144 70 Q100 100 56 70 Z"/><path '
    'd="M118 80 L138 80 L144 170 L118 170 Z"/><path class="line" d="M122 176 L122 '
    '186 M132 176 L132 186 M140 176 L140 186"/>',
    "sunglasses": '<path d="M28 82 L92 82 L88 122 Q62 138 36 122 Z M108 82 L172 82 '
    'L164 122 Q138 138 112 122 Z"/><path class="line" d="M92 90 Q100 80 108 90 M28 '
    '82 L18 76 M172 82 L182 76"/>',
    "glasses_case": '<rect x="30" y="76" width="140" height="56" rx="28"/><path '
    'class="line" d="M30 104 L170 104"/>',
    "belt": '<rect x="20" y="86" width="160" height="30" rx="6"/><rect '
    'class="hole" x="66" y="80" width="40" height="42" rx="4"/><rect x="74" '
    'y="90" width="24" height="22" rx="2"/><circle class="hole" cx="130" cy="101" '
    'r="4"/><circle class="hole" cx="148" cy="101" r="4"/>',
    "wallet": '<rect x="34" y="60" width="132" height="90" rx="12"/><path '
    'class="hole" d="M120 88 L166 88 L166 122 L120 122 Q108 122 108 105 Q108 88 '
    '120 88 Z"/><circle cx="124" cy="105" r="6"/>',
    "keyring": '<circle class="line" cx="70" cy="70" r="34"/><path d="M96 96 L150 '
    '150 L138 162 L130 154 L122 162 L112 152 L120 144 L84 108 Z"/>',
    "tube": '<path d="M72 40 L128 40 L134 150 L66 150 Z"/><rect x="84" y="150" '
    'width="32" height="24" rx="4"/><path class="line" d="M72 52 L128 52"/>',
    "stick": '<rect x="76" y="70" width="48" height="104" rx="10"/><path d="M80 70 '
    'L80 42 Q100 26 120 42 L120 70 Z"/>',
    "dropper": '<rect x="66" y="88" width="68" height="86" rx="14"/><rect x="86" '
    'y="64" width="28" height="24"/><path d="M90 64 L90 36 Q100 24 110 36 L110 64 '
    'Z"/>',
    "pump": '<path d="M68 86 L132 86 L132 160 Q132 168 124 168 L76 168 Q68 168 68 '
    "160 Z M86 86 L86 68 L114 68 L114 86 Z M96 68 L96 50 L104 50 L104 68 Z M88 50 "
    'L88 40 L138 40 L138 48 L104 48 Z"/><rect class="hole" x="82" y="106" '
    'width="36" height="40"/>',
    "jar": '<rect x="48" y="86" width="104" height="80" rx="14"/><rect x="44" '
    'y="64" width="112" height="26" rx="8"/>',
    "soap": '<rect x="40" y="76" width="120" height="70" rx="30"/><ellipse '
    'class="hole" cx="100" cy="111" rx="30" ry="12"/>',
    "gift": '<rect x="40" y="86" width="120" height="84" rx="6"/><rect x="32" '
    'y="64" width="136" height="26" rx="4"/><path class="hole" d="M94 64 L106 64 '
    'L106 170 L94 170 Z"/><path class="line" d="M100 64 Q76 30 70 56 Q68 66 100 '
    '64 Q132 66 130 56 Q124 30 100 64"/>',
    "tshirt": '<path d="M76 38 Q100 58 124 38 L168 60 L152 94 L136 86 L136 164 L64 '
    '164 L64 86 L48 94 L32 60 Z"/>',
    "longsleeve": '<path d="M76 38 Q100 58 124 38 L150 50 L176 150 L156 156 L136 '
    '90 L136 166 L64 166 L64 90 L44 156 L24 150 L50 50 Z"/>',
    "tank": '<path d="M78 34 Q100 64 122 34 L132 34 Q132 70 148 84 L148 166 L52 '
    '166 L52 84 Q68 70 68 34 Z"/>',
    "leggings": '<path d="M64 30 L136 30 L142 176 L112 176 L100 72 L88 176 L58 176 '
    'Z"/>',
    "shorts": '<path d="M50 56 L150 56 L164 144 L112 150 L100 100 L88 150 L36 144 Z"/>',
    "socks": '<path d="M56 30 L88 30 L88 120 L124 140 Q136 150 128 164 Q120 176 '
    '104 170 L62 150 Q56 146 56 136 Z"/><path class="line" d="M56 46 L88 46"/>',
    "bra": '<path d="M30 84 Q60 60 96 96 L104 96 Q140 60 170 84 L170 130 L30 130 '
    'Z"/><path class="line" d="M56 70 L70 30 M144 70 L130 30"/>',
    "swimsuit": '<path d="M70 30 L84 30 Q100 70 116 30 L130 30 L136 110 L120 170 '
    'L80 170 L64 110 Z"/>',
    "box": '<rect x="46" y="64" width="108" height="104" rx="8"/><path '
    'class="line" d="M46 96 L154 96"/>',
}

# (kind, words in the product's name), first match wins: specific before general.
NAMED: list[tuple[str, str]] = [
    ("glasses_case", r"sunglasses\s+(?:hard\s+)?case"),
    ("sunglasses", r"sunglasses"),
    ("wallet", r"wallet|card holder"),
    ("belt", r"\bbelt\b"),
    ("keyring", r"key ring"),
    ("beanie", r"beanie"),
    ("cap", r"\bcap\b"),
    ("hat", r"\bhat\b"),
    ("gloves", r"gloves|mittens"),
    ("scarf", r"scarf|gaiter"),
    ("vest", r"\bvest\b(?!.*hydration)"),
    ("poncho", r"poncho"),
    ("coat", r"coat|peacoat"),
    ("boot", r"boots?\b"),
    ("sandal", r"sandals|slides"),
    ("sneaker", r"shoes|sneakers|slippers"),
    ("suitcase", r"suitcase|spinner"),
    ("duffel", r"duffel"),
    ("tote", r"tote"),
    ("messenger", r"messenger|crossbody|sling|hip pack|pannier"),
    ("backpack", r"backpack|daypack|hydration vest|dry bag"),
    ("pouch", r"sleeve|pouch|cubes|toiletry|lunch bag"),
    ("mug", r"\bmugs?\b"),
    ("kettle", r"kettle|teapot"),
    ("coffee", r"coffee set|grinder|french press|espresso|frother|filters|pour-over"),
    ("pan", r"skillet|dutch oven|cookware|cookset"),
    ("knife", r"knife|whetstone"),
    ("board", r"cutting board"),
    ("apron", r"apron"),
    ("utensils", r"utensil"),
    ("scale", r"\bscale\b"),
    ("storage", r"storage set|care kit|scrubber"),
    ("headphones", r"headphone"),
    ("earbuds", r"earbuds"),
    ("speaker", r"speaker"),
    ("charger", r"charger|power bank|cable|charging|hub"),
    ("reader", r"e-reader|tablet"),
    ("watch", r"watch|fitness tracker"),
    ("camera", r"camera"),
    ("keyboard", r"keyboard"),
    ("mouse", r"\bmouse\b"),
    ("turntable", r"turntable"),
    ("tag", r"tracker tags"),
    ("blanket", r"throw|blanket|duvet|sheet set"),
    ("pillow", r"pillows?|cushion"),
    ("candle", r"candle"),
    ("headlamp", r"headlamp"),
    ("lamp", r"\blamp\b|lantern|night light|string lights"),
    ("bulb", r"bulbs"),
    ("plant", r"planter|tree|herb garden"),
    ("bottle", r"diffuser|water filter"),
    ("towel", r"towel"),
    ("rug", r"\brug\b|doormat"),
    ("basket", r"basket"),
    ("clock", r"clock"),
    ("tent", r"\btent\b"),
    ("sleeping_bag", r"sleeping bag|bivvy"),
    ("mat", r"sleeping pad"),
    ("stove", r"stove"),
    ("canister", r"canister"),
    ("poles", r"poles"),
    ("chair", r"chair"),
    ("hammock", r"hammock"),
    ("cooler", r"cooler"),
    ("first_aid", r"first aid"),
    ("compass", r"compass"),
    ("fire", r"fire starter"),
    ("gift", r"gift set|minis set|trio"),
    ("stick", r"lip balm|stick|deodorant"),
    ("dropper", r"serum|hair oil"),
    ("soap", r"shampoo bar"),
    ("jar", r"cream|butter|balm"),
    ("pump", r"cleanser|moisturi[sz]er|lotion"),
    ("tube", r"sunscreen|gel|repellent"),
    ("bra", r"\bbra\b"),
    ("swimsuit", r"swimsuit"),
    ("socks", r"socks"),
    ("shorts", r"shorts"),
    ("leggings", r"leggings|tights|joggers|bottoms"),
    ("tank", r"tank top"),
    ("longsleeve", r"long-sleeve|midlayer|rash guard|base layer top|set — kids"),
    ("tshirt", r"t-shirt|tee\b|top\b"),
    ("jacket", r"jacket|parka|anorak|puffer|hoodie|hardshell|softshell|windbreaker"),
]

# The kinds a product of each category may be drawn as; the first is the default.
CATEGORY_KINDS: dict[str, tuple[str, ...]] = {
    "Jackets": ("jacket", "vest", "poncho", "coat"),
    "Shoes": ("sneaker", "boot", "sandal"),
    "Bags": ("backpack", "duffel", "suitcase", "tote", "pouch", "messenger"),
    "Kitchen": (
        "pan",
        "mug",
        "coffee",
        "kettle",
        "knife",
        "board",
        "apron",
        "utensils",
        "scale",
        "storage",
    ),
    "Electronics": (
        "charger",
        "headphones",
        "earbuds",
        "speaker",
        "reader",
        "watch",
        "camera",
        "keyboard",
        "mouse",
        "turntable",
        "tag",
    ),
    "Home": (
        "blanket",
        "pillow",
        "candle",
        "lamp",
        "bulb",
        "plant",
        "bottle",
        "towel",
        "rug",
        "basket",
        "clock",
    ),
    "Outdoor": (
        "tent",
        "sleeping_bag",
        "mat",
        "pillow",
        "stove",
        "canister",
        "pan",
        "mug",
        "headlamp",
        "poles",
        "bottle",
        "chair",
        "hammock",
        "cooler",
        "first_aid",
        "compass",
        "fire",
    ),
    "Accessories": (
        "beanie",
        "cap",
        "hat",
        "gloves",
        "scarf",
        "sunglasses",
        "glasses_case",
        "belt",
        "wallet",
        "keyring",
    ),
    "Beauty": ("tube", "stick", "dropper", "soap", "jar", "pump", "gift"),
    "Sportswear": (
        "tshirt",
        "longsleeve",
        "tank",
        "leggings",
        "shorts",
        "socks",
        "bra",
        "swimsuit",
    ),
}
DEFAULT_KIND = "box"


def kind_of(product: dict[str, str]) -> str:
    """What the product is, from its name, among its category's kinds."""
    allowed = CATEGORY_KINDS.get(product["category"], ())
    name = product["name"].lower()
    for kind, words in NAMED:
        if kind in allowed and re.search(words, name):
            return kind
    return allowed[0] if allowed else DEFAULT_KIND


def draw(product: dict[str, str]) -> str:
    digest = int(hashlib.sha256(product["sku"].encode()).hexdigest(), 16)
    color = PALETTE[digest % len(PALETTE)]
    kind = kind_of(product)
    name = escape(product["name"])
    style = (
        f"path,rect,circle,ellipse{{fill:{color};fill-opacity:.85;stroke:{color};"
        "stroke-width:4;stroke-linejoin:round;stroke-linecap:round}"
        ".hole{fill:#fff;fill-opacity:1}.line{fill:none}"
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" role="img" '
        f'aria-label="{name}" data-kind="{kind}"><style>{style}</style>'
        f'<rect width="200" height="200" rx="16" style="fill:{color};'
        'fill-opacity:.12;stroke:none"/>'
        f"{SHAPES[kind]}"
        '<text x="100" y="194" font-family="sans-serif" font-size="11" '
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
