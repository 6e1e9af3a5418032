"""What the intent model reads: the customer's words without the noise around them.

Shoppers paste markup and links, add emoji and pile up punctuation; the model was
trained on plain questions and reads such noise as a different (often out-of-scope)
request. Only the model's input is cleaned: the stored message is never changed.
"""

from __future__ import annotations

import html
import re

# A tag opens with a letter, "/" or "!" right after "<" ("a < b" is no tag); bounded,
# so a stray "<" never makes the pattern scan the rest of a long message.
TAG = re.compile(r"<[a-zA-Z/!][^<>\n]{0,200}>")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
# Pictographs, dingbats, flags, skin tones and the joiners that glue them together.
EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\U000e0020-\U000e007f]"
)
REPEATED_PUNCTUATION = re.compile(r"([!?.,;:*~_-])\1+")
SPACE = re.compile(r"\s+")
# What removing a tag leaves: "my <b>order</b>?" must read "my order?".
SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([!?.,;:])")


def for_the_model(text: str) -> str:
    """``text`` without markup, links, emoji and repeated punctuation.

    Returns the text unchanged when nothing but noise is left (a bare link is still
    better read as it is than as nothing).
    """
    cleaned = html.unescape(TAG.sub(" ", text))
    cleaned = URL.sub(" ", cleaned)
    cleaned = EMOJI.sub(" ", cleaned)
    cleaned = REPEATED_PUNCTUATION.sub(r"\1", cleaned)
    cleaned = SPACE.sub(" ", cleaned).strip()
    cleaned = SPACE_BEFORE_PUNCTUATION.sub(r"\1", cleaned)
    return cleaned if re.search(r"\w", cleaned) else text
