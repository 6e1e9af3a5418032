"""Small SVG charts drawn on the server: no chart library, no CDN.

Every piece of text goes through ``escape``, so the result is safe to inline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

ACCENT = "#2563eb"
MUTED = "#6b7280"


def _svg(width: int, height: int, body: list[str], *, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}" class="chart">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def horizontal_bars(
    rows: Sequence[tuple[str, float, str]], *, label: str, width: int = 640
) -> str:
    """One bar per ``(name, value, caption)``; bars scale to the largest value."""
    bar_height, gap, name_width, caption_width = 18, 6, 170, 110
    height = max(1, len(rows)) * (bar_height + gap) + gap
    top = max((value for _, value, _ in rows), default=0) or 1
    usable = width - name_width - caption_width
    body: list[str] = []
    for i, (name, value, caption) in enumerate(rows):
        y = gap + i * (bar_height + gap)
        length = max(1.0, usable * value / top) if value else 0.0
        body.append(
            f'<text x="{name_width - 6}" y="{y + 13}" text-anchor="end" '
            f'font-size="12">{escape(name)}</text>'
            f'<rect x="{name_width}" y="{y}" width="{length:.1f}" '
            f'height="{bar_height}" fill="{ACCENT}" rx="2"/>'
            f'<text x="{name_width + length + 6:.1f}" y="{y + 13}" font-size="12" '
            f'fill="{MUTED}">{escape(caption)}</text>'
        )
    if not rows:
        body.append(f'<text x="0" y="16" font-size="12" fill="{MUTED}">No data</text>')
        height = 24
    return _svg(width, height, body, label=label)


def daily_columns(
    days: Sequence[tuple[date, int]], *, label: str, width: int = 640
) -> str:
    """A column per day, with the first and last day and the peak labelled."""
    height, bottom, left = 160, 20, 30
    top = max((n for _, n in days), default=0)
    scale = (height - bottom - 16) / top if top else 0
    slot = (width - left) / max(1, len(days))
    body = [
        f'<text x="0" y="12" font-size="11" fill="{MUTED}">{top}</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" '
        f'y2="{height - bottom}" stroke="{MUTED}" stroke-width="1"/>',
    ]
    for i, (day, n) in enumerate(days):
        bar = n * scale
        x = left + i * slot
        body.append(
            f'<rect x="{x + slot * 0.1:.1f}" y="{height - bottom - bar:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{bar:.1f}" fill="{ACCENT}">'
            f"<title>{escape(day.isoformat())}: {n}</title></rect>"
        )
    if days:
        body.append(
            f'<text x="{left}" y="{height - 4}" font-size="11" fill="{MUTED}">'
            f"{escape(days[0][0].isoformat())}</text>"
            f'<text x="{width}" y="{height - 4}" font-size="11" text-anchor="end" '
            f'fill="{MUTED}">{escape(days[-1][0].isoformat())}</text>'
        )
    return _svg(width, height, body, label=label)
