"""Product.attributes from what an import row says: colours, sizes, material and any
other facts, checked and written one way whatever the file's format."""

from __future__ import annotations

import json
import re
from typing import Any

from recommender.imports.rows import BadCell

# Columns (CSV) or keys (JSONL) read into Product.attributes, by the key they fill.
ATTRIBUTE_COLUMNS = {
    "colours": ("colours", "colour", "colors", "color"),
    "sizes": ("sizes", "size"),
    "material": ("material",),
}
# A list in one CSV cell: "red|navy", "red; navy" or "red, navy".
LIST_SEPARATOR = re.compile(r"\s*[|;,]\s*")
LETTER_SIZES = {"XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"}
MAX_ATTRIBUTE_TEXT = 100


class BadAttribute(BadCell):
    """An attribute column holds something it can't; the message names the column."""


def attribute_key(name: str) -> str:
    """The attributes key a shop's option name fills: "Color" → "colours", "Shoe
    size" → "sizes", "Heel height" → "heel_height".

    Colours and sizes are what the chat filters by, so an option that is one by
    another name ("Frame colour", "EU size") is read as one.
    """
    key = "_".join(name.strip().lower().split())
    key = key.removeprefix("pa_")  # WooCommerce's global attributes: pa_color
    for target, names in ATTRIBUTE_COLUMNS.items():
        if key in names:
            return target
    if key.endswith("size") or key.endswith("sizes"):
        return "sizes"
    if "colour" in key or "color" in key:
        return "colours"
    return key


def _attribute_list(column: str, value: Any) -> list[str]:
    if isinstance(value, str):
        items: list[Any] = [v for v in LIST_SEPARATOR.split(value.strip()) if v]
    elif isinstance(value, list):
        items = value
    else:
        raise BadAttribute(column, f"expected a list or text, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise BadAttribute(column, f"{item!r} is not a word or a number")
        text = str(item).strip()
        if not text or len(text) > MAX_ATTRIBUTE_TEXT:
            raise BadAttribute(column, f"{item!r} is empty or too long")
        out.append(text)
    return out


def attributes_of(row: dict[str, Any]) -> dict[str, Any]:
    """Product.attributes from a row: the ``attributes`` object (JSONL, or JSON text
    in a CSV cell) and the colour, size and material columns; BadAttribute naming the
    column when a value can't be one."""
    raw = row.get("attributes")
    if isinstance(raw, str) and raw.strip():
        try:
            raw = json.loads(raw)
        except ValueError:
            raise BadAttribute("attributes", "not valid JSON") from None
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise BadAttribute("attributes", "expected a JSON object")
    attributes: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 40:
            raise BadAttribute("attributes", f"bad key {key!r}")
        if isinstance(value, dict):
            raise BadAttribute("attributes", f"{key!r} holds an object")
        attributes[key.strip()] = value
    for key, names in ATTRIBUTE_COLUMNS.items():
        # A column beats the object; either may spell the key another way ("colour").
        columns = [name for name in names if row.get(name) not in (None, "")]
        spelled = [name for name in names if name in attributes]
        value = row[columns[0]] if columns else None
        for name in spelled:
            value = attributes.pop(name) if value is None else value
            attributes.pop(name, None)
        if value is not None:
            attributes[key] = value
    if "colours" in attributes:
        attributes["colours"] = list(
            dict.fromkeys(
                c.lower() for c in _attribute_list("colours", attributes["colours"])
            )
        )
    if "sizes" in attributes:
        attributes["sizes"] = list(
            dict.fromkeys(
                s.upper() if s.upper() in LETTER_SIZES else s
                for s in _attribute_list("sizes", attributes["sizes"])
            )
        )
    if "material" in attributes:
        material = attributes["material"]
        if not isinstance(material, str) or len(material) > MAX_ATTRIBUTE_TEXT:
            raise BadAttribute("material", f"expected a short text, got {material!r}")
        attributes["material"] = material.strip().lower()
    for key, value in attributes.items():
        if isinstance(value, list):
            _attribute_list(key, value)
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise BadAttribute(key, f"{value!r} is not a value")
    return {k: v for k, v in attributes.items() if v not in (None, "", [])}


def variant_attributes(
    options: dict[str, list[str]], *, tags: list[str]
) -> dict[str, Any]:
    """Product.attributes of a product with variants: each option's values across
    its variants ({"colours": ["Blue", "White", "Blue"]} → ["blue", "white"]), the
    materials as one text, and the shop's tags."""
    raw: dict[str, Any] = {key: list(dict.fromkeys(v)) for key, v in options.items()}
    if "material" in raw:
        raw["material"] = ", ".join(raw["material"])
    if tags:
        raw["tags"] = tags
    return attributes_of({"attributes": raw})
