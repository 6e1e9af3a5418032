"""What every import shares: CSV rows with their line numbers, errors that name the
line and column, and the cells read as prices, counts, lists and plain text."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    """One bad cell or row: ``p.csv:7: column 'Variant Price': 'abc' is not a
    price`` (the line a record starts on, as an editor counts it)."""

    line: int
    problem: str
    column: str | None = None

    def describe(self, path: Path | str) -> str:
        where = f"{path}:{self.line}:"
        if self.column:
            return f"{where} column {self.column!r}: {self.problem}"
        return f"{where} {self.problem}"


class BadCell(ValueError):
    """Raised by the cell readers; the format's reader turns it into a RowError."""

    def __init__(self, column: str | None, problem: str) -> None:
        super().__init__(problem)
        self.column = column
        self.problem = problem


class BadRow(Exception):
    """A record (a product and its variants, an order and its items) can't be read:
    the bad cell, at the line of the row it is in."""

    def __init__(self, line: int, cell: BadCell) -> None:
        super().__init__(cell.problem)
        self.error = RowError(line, cell.problem, cell.column)


class ImportFailed(ValueError):
    """The file can't be imported (or, without ``skip_bad``, has bad rows); the
    message lists every error with its file, line and column."""

    def __init__(self, path: Path | str, errors: Sequence[RowError]) -> None:
        self.path = Path(path)
        self.errors = list(errors)
        super().__init__("\n".join(error.describe(path) for error in self.errors))


@dataclass
class Parsed(Generic[T]):
    """What a format's reader found: the good records, and the errors of the bad
    ones (a record with one bad row is left out whole: a product without one of its
    variants would show a wrong price and stock)."""

    records: list[T] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import wrote, and the rows it left out (only with ``skip_bad``)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated + self.unchanged

    def count(self, *, new: bool, changed: bool) -> None:
        if new:
            self.created += 1
        elif changed:
            self.updated += 1
        else:
            self.unchanged += 1


def set_fields(row: Any, fields: dict[str, Any]) -> bool:
    """Set ``fields`` on a model instance; whether any of them was different.

    An import saves only the rows that changed: a nightly re-import of the same
    export then writes nothing, and queues no embedding.
    """
    changed = False
    for name, value in fields.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheet programs (and Shopify's export) may start with a BOM.
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFailed(path, [RowError(1, "not UTF-8 text")]) from None


def csv_rows(
    path: Path, *, required: Iterable[str], errors: list[RowError]
) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file as (the line the row starts on, {column: text}); a
    row with more cells than the header has columns goes to ``errors`` instead.

    A quoted cell may hold line breaks (descriptions do), so the line a row starts
    on is counted here rather than taken from ``DictReader.line_num`` (its end).
    """
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFailed(path, [RowError(1, f"the header lacks {missing}")])
    rows = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise ImportFailed(path, [RowError(start, f"not CSV: {error}")]) from None
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            problem = f"{len(cells)} cells under {len(header)} columns"
            errors.append(RowError(start, problem))
            continue
        rows.append((start, dict(zip(header, cells, strict=False))))
    return rows


def cell(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value).strip()


def text(
    row: dict[str, Any], column: str, *, max_length: int, required: bool = False
) -> str:
    value = cell(row, column)
    if required and not value:
        raise BadCell(column, "missing")
    if len(value) > max_length:
        raise BadCell(column, f"longer than {max_length} characters")
    return value


def price(row: dict[str, Any], column: str) -> Decimal | None:
    """A price cell ("49.50", "$49.50", "1,049.00"), None when empty."""
    raw = cell(row, column)
    if not raw:
        return None
    try:
        value = Decimal(raw.lstrip("$€£").replace(",", ""))
    except InvalidOperation:
        raise BadCell(column, f"{raw!r} is not a price") from None
    if not value.is_finite() or value < 0 or value >= 10**8:
        raise BadCell(column, f"{raw!r} is not a price")
    return value.quantize(Decimal("0.01"))


def count(
    row: dict[str, Any], column: str, *, negative_as_zero: bool = False
) -> int | None:
    """A whole number of items, None when empty. Shops may export a negative stock
    (sold beyond it): ``negative_as_zero`` reads that as none left."""
    raw = cell(row, column)
    if not raw:
        return None
    try:
        value = int(Decimal(raw)) if re.fullmatch(r"-?\d+(\.0+)?", raw) else int(raw)
    except ValueError:
        raise BadCell(column, f"{raw!r} is not a count") from None
    if value < 0:
        if negative_as_zero:
            return 0
        raise BadCell(column, f"{raw!r} is not a count")
    return value


def split_list(value: str, *, separator: str = ",") -> list[str]:
    """A list in one cell ("red, navy"); a separator escaped as ``\\,`` (how
    WooCommerce writes a comma inside a value) stays in the value."""
    parts = re.split(rf"(?<!\\){re.escape(separator)}", value)
    return [p.replace(f"\\{separator}", separator).strip() for p in parts if p.strip()]


class _TextOnly(HTMLParser):
    # Block elements end a line of text; what scripts and styles hold is not text.
    BLOCKS = {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
    }
    HIDDEN = {"script", "style", "template", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The words of an HTML description as plain text: tags dropped, entities
    decoded, scripts and styles left out, one line per paragraph or list item.

    The result is stored as text and escaped wherever it is shown, like any other
    description; nothing of the markup survives to be interpreted.
    """
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)
