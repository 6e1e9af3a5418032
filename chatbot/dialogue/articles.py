"""Help-centre articles as answers are made of them: sections, passages, and the
shop's settings filled in. Plain text in, plain data out, no database.

A long article answers many questions; the bot quotes the one section nearest the
question (``Passage``), with the link to the whole article. Article bodies may name
the shop's settings (``{shop.return_window_days}``, ``{shop.free_shipping_threshold}``,
``{shop.hours}``): they are filled when the answer is made, so a setting changed in
the admin changes every answer that quotes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatbot.dialogue.shop import Shop
    from chatbot.models import Article

# An article this short (or of one paragraph) is quoted whole.
QUOTE_WHOLE_BELOW = 300
# A paragraph this short ("We're sorry about that.") leads into the next one.
LEAD_IN_BELOW = 60
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.+)$")
PLACEHOLDER = re.compile(r"\{shop\.(\w+)\}")


@dataclass(frozen=True)
class Section:
    """One part of an article that can be quoted on its own."""

    index: int
    heading: str
    text: str


@dataclass(frozen=True)
class Passage:
    """The section of an article nearest a question.

    Attributes:
        article: the article the section is from.
        section: the section to quote.
        distance: cosine distance between the question and the section (0: same).
        fits: whether it answers the question well enough to be said (the lookup
            judges, with thresholds chosen for its encoder).
    """

    article: Article
    section: Section
    distance: float
    fits: bool


def is_heading(paragraph: str) -> bool:
    """A one-line title ("## Returns" or "Returns from abroad"), not a sentence."""
    if "\n" in paragraph:
        return False
    if MARKDOWN_HEADING.match(paragraph):
        return True
    return len(paragraph) <= 80 and not re.search(r"[.!?:;,)]$", paragraph)


def is_list(paragraph: str) -> bool:
    return bool(LIST_LINE.match(paragraph))


def sections(body: str) -> list[Section]:
    """Split an article body into quotable sections.

    Paragraphs (separated by blank lines) are sections, except that a heading
    starts a section and titles it, a paragraph ending in ":" or a very short one
    leads into the next, and a list belongs to the paragraph before it. A short
    article is one section.
    """
    text = body.strip()
    paragraphs: list[str] = []
    for part in PARAGRAPH_BREAK.split(text):
        first, _, rest = part.strip().partition("\n")
        if MARKDOWN_HEADING.match(first) and rest.strip():
            paragraphs += [first, rest.strip()]  # "## Title" right above its text
        elif part.strip():
            paragraphs.append(part.strip())
    if len(text) < QUOTE_WHOLE_BELOW or len(paragraphs) <= 1:
        return [Section(0, "", text)]
    groups: list[tuple[str, list[str]]] = []  # (heading, paragraphs)
    if any(is_heading(p) and not is_list(p) for p in paragraphs):
        # Titled parts: a heading's section runs to the next heading.
        for paragraph in paragraphs:
            if is_heading(paragraph) and not is_list(paragraph):
                title = MARKDOWN_HEADING.match(paragraph)
                groups.append((title.group(1).strip() if title else paragraph, []))
            elif groups:
                groups[-1][1].append(paragraph)
            else:
                groups.append(("", [paragraph]))
    else:
        open_group = False  # the last group takes the next paragraph too
        for paragraph in paragraphs:
            if groups and (open_group or is_list(paragraph)):
                groups[-1][1].append(paragraph)
            else:
                groups.append(("", [paragraph]))
            open_group = not is_list(paragraph) and (
                paragraph.endswith(":") or len(paragraph) < LEAD_IN_BELOW
            )
    kept = [(heading, parts) for heading, parts in groups if parts]
    return [
        Section(i, heading, "\n\n".join(parts))
        for i, (heading, parts) in enumerate(kept)
    ]


def section_search_text(article: Article, section: Section) -> str:
    """What a section is embedded from: the article's title gives it its topic."""
    return "\n".join(filter(None, [article.title, section.heading, section.text]))


def shop_values(shop: Shop) -> dict[str, str]:
    """The shop's settings as answers and templates say them."""
    threshold = shop.free_shipping_threshold
    return {
        "name": shop.name,
        "return_window_days": str(shop.return_window_days),
        "free_shipping_threshold": shop.money(threshold)
        if threshold is not None
        else "no amount (shipping is never free)",
        "hours": shop.hours_text(),
        "currency": shop.currency,
    }


def fill_shop(text: str, shop: Shop) -> str:
    """Fill ``{shop.…}`` placeholders; unknown ones stay visible for staff to fix."""
    values = shop_values(shop)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def quote(passage: Passage, shop: Shop) -> str:
    """The text of a passage as the bot says it."""
    section = passage.section
    text = fill_shop(section.text, shop)
    heading = fill_shop(section.heading, shop)
    return f"{heading}\n{text}" if heading else text
