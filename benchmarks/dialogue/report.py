"""The dialogue benchmark's figures: pass rates overall, by category and by failure
class, and every failure with its transcript."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from benchmarks.dialogue.driver import Result


def rate(results: Sequence[Result]) -> dict[str, Any]:
    passed = sum(r.passed for r in results)
    total = len(results)
    return {
        "total": total,
        "passed": passed,
        "pass_rate": round(passed / total, 4) if total else None,
    }


def summary(results: Sequence[Result], **about: Any) -> dict[str, Any]:
    """The JSON the command writes: figures first, then the failed conversations,
    then every conversation, each with its transcript."""
    by_category: dict[str, list[Result]] = defaultdict(list)
    by_class: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_category[result.story.category].append(result)
        key = str(result.story.failure_class or "none")
        by_class[key].append(result)
    return {
        **about,
        **rate(results),
        "seconds": round(sum(r.seconds for r in results), 1),
        "by_category": {k: rate(v) for k, v in sorted(by_category.items())},
        "by_class": {k: rate(v) for k, v in sorted(by_class.items())},
        "failures": [r.as_json(transcript=True) for r in results if not r.passed],
        # Passes keep their transcripts too: a pass that should not be one shows.
        "conversations": [r.as_json(transcript=True) for r in results],
    }


def table_rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(group, passed/total, percent) rows: categories, then failure classes."""
    rows = []
    for name, group in figures["by_category"].items():
        rows.append((name, *_cells(group)))
    for name, group in figures["by_class"].items():
        label = "no class" if name == "none" else f"class {name}"
        rows.append((label, *_cells(group)))
    rows.append(("all", *_cells(figures)))
    return rows


def _cells(group: dict[str, Any]) -> tuple[str, str]:
    percent = "-" if group["pass_rate"] is None else f"{group['pass_rate']:.0%}"
    return f"{group['passed']}/{group['total']}", percent


def failure_lines(result: Result) -> list[str]:
    """A failed conversation as text: each turn, then the checks that failed."""
    story = result.story
    klass = f", class {story.failure_class}" if story.failure_class else ""
    lines = [f"FAIL {story.id} ({story.category}{klass}, {story.file})"]
    for entry in result.transcript:
        said = entry.get("customer") or f"[click] {entry.get('click')}"
        lines.append(f"  {entry['turn']}. customer: {said}")
        if "bot" in entry:
            bot = " ".join(str(entry["bot"]).split())
            extras = []
            payload = entry.get("payload") or {}
            if payload.get("cards"):
                extras.append(
                    "cards: "
                    + ", ".join(
                        f"{c.get('name')} {c.get('price')} {c.get('currency')}"
                        for c in payload["cards"]
                    )
                )
            if payload.get("article"):
                extras.append(f"article: {payload['article'].get('url')}")
            if payload.get("quick_replies"):
                titles = [b.get("title") for b in payload["quick_replies"]]
                extras.append(f"buttons: {titles}")
            lines.append(f"     bot [{entry.get('action')}]: {bot[:300]}")
            lines.extend(f"       {extra}" for extra in extras)
    for failure in result.failures:
        lines.append(f"  ✗ turn {failure['turn']}: {failure['check']}")
    return lines
