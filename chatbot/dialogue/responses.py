"""What the bot says: templates edited in the admin, with defaults in code.

Templates use ``{name}`` and ``{name.attribute}`` variables, filled from plain
dictionaries only — never attribute access on Python objects, so a template typed
into the admin can't reach anything it was not given.
"""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path
from typing import Any

import yaml

from chatbot.models import ResponseTemplate

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "demo" / "responses.yaml"
VARIABLE = re.compile(r"\{(\w+)(?:\.(\w+))?\}")


@functools.cache
def defaults() -> dict[str, list[str]]:
    data = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    return {key: list(texts) for key, texts in data["responses"].items()}


def fill(template: str, context: dict[str, Any]) -> str:
    """Replace known variables; unknown ones stay visible so staff can fix them."""

    def value(match: re.Match[str]) -> str:
        name, attribute = match.group(1), match.group(2)
        found = context.get(name)
        if attribute is not None:
            found = found.get(attribute) if isinstance(found, dict) else None
        return match.group(0) if found is None else str(found)

    return VARIABLE.sub(value, template)


def say(key: str, rng: random.Random | None = None, **context: Any) -> str:
    """One variation of the response ``key``, filled with ``context``."""
    texts = list(
        ResponseTemplate.objects.filter(key=key, active=True).values_list(
            "text", flat=True
        )
    ) or defaults().get(key)
    if not texts:
        raise KeyError(f"no response template or default for {key!r}")
    return fill((rng or random).choice(texts), context)
