"""Reading and writing labelled utterances: CSV (``text,intent``) and YAML.

Every error a user can cause names the file and the line, and nothing is returned
until the whole file has been read, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from classifier.models import OUT_OF_SCOPE

Labelled = list[tuple[str, str]]


class DatasetError(ValueError):
    """A labelled file is malformed; the message names the file and line."""


@dataclass
class IntentSet:
    """Intents with descriptions, and labelled examples (``oos`` = out of scope)."""

    examples: Labelled
    descriptions: dict[str, str] = field(default_factory=dict)


def read(path: Path) -> IntentSet:
    """Read a ``.csv`` or ``.yaml`` / ``.yml`` file of labelled utterances."""
    if path.suffix.lower() in (".yaml", ".yml"):
        return read_yaml(path)
    return IntentSet(examples=read_csv(path))


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({error.strerror})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DatasetError(f"{path}:{line}: not UTF-8 text") from None


def read_csv(path: Path) -> Labelled:
    """Rows of a ``text,intent`` CSV file with a header."""
    return [(text, intent) for text, intent, _ in read_csv_lines(path)]


def read_csv_lines(path: Path) -> list[tuple[str, str, int]]:
    """``(text, intent, line number)`` for each row, for messages naming the line."""
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    header = next(reader, None)
    if header is None:
        raise DatasetError(f"{path}: the file is empty")
    columns = [column.strip().lower() for column in header]
    if sorted(columns) != ["intent", "text"]:
        unknown = sorted(set(columns) - {"text", "intent"})
        raise DatasetError(
            f"{path}:1: expected the header 'text,intent', got {','.join(header)!r}"
            + (f" (unknown columns: {', '.join(unknown)})" if unknown else "")
        )
    text_column, intent_column = columns.index("text"), columns.index("intent")
    rows: list[tuple[str, str, int]] = []
    for row in reader:
        line = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise DatasetError(f"{path}:{line}: expected 2 columns, got {len(row)}")
        text, intent = row[text_column].strip(), row[intent_column].strip()
        if not text:
            raise DatasetError(f"{path}:{line}: the text is empty")
        if not intent:
            raise DatasetError(f"{path}:{line}: the intent is empty")
        rows.append((text, intent, line))
    if not rows:
        raise DatasetError(f"{path}: no rows after the header")
    return rows


def read_yaml(path: Path) -> IntentSet:
    """``intents: [{name, description, examples: [...]}]`` and ``oos: [...]``."""
    try:
        data = yaml.safe_load(_text(path))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}{line}: not valid YAML") from None
    if not isinstance(data, dict) or not isinstance(data.get("intents"), list):
        raise DatasetError(f"{path}: expected a mapping with an 'intents' list")
    unknown = set(data) - {"intents", "oos"}
    if unknown:
        raise DatasetError(f"{path}: unknown keys {sorted(unknown)}")
    result = IntentSet(examples=[])
    for number, intent in enumerate(data["intents"], 1):
        if not isinstance(intent, dict) or not isinstance(intent.get("name"), str):
            raise DatasetError(f"{path}: intent #{number} has no 'name'")
        name = intent["name"].strip()
        examples = intent.get("examples") or []
        if not isinstance(examples, list) or not all(
            isinstance(e, str) and e.strip() for e in examples
        ):
            raise DatasetError(f"{path}: intent {name!r}: examples must be texts")
        result.descriptions[name] = str(intent.get("description") or "")
        result.examples += [(example.strip(), name) for example in examples]
    oos = data.get("oos") or []
    if not isinstance(oos, list) or not all(isinstance(e, str) for e in oos):
        raise DatasetError(f"{path}: 'oos' must be a list of texts")
    result.examples += [(e.strip(), OUT_OF_SCOPE) for e in oos if e.strip()]
    if not result.examples:
        raise DatasetError(f"{path}: no examples")
    return result


def write(path: Path, intent_set: IntentSet) -> None:
    """Write ``intent_set`` as CSV or YAML, by the file's extension."""
    if path.suffix.lower() in (".yaml", ".yml"):
        by_intent: dict[str, list[str]] = {name: [] for name in intent_set.descriptions}
        oos: list[str] = []
        for text, intent in intent_set.examples:
            if intent == OUT_OF_SCOPE:
                oos.append(text)
            else:
                by_intent.setdefault(intent, []).append(text)
        data = {
            "intents": [
                {
                    "name": name,
                    "description": intent_set.descriptions.get(name, ""),
                    "examples": texts,
                }
                for name, texts in by_intent.items()
            ],
            "oos": oos,
        }
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "intent"])
        writer.writerows(intent_set.examples)
