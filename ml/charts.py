"""The promoted versions' primary metric over time, as an inline SVG (no library,
no CDN). Every piece of text goes through ``escape``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

ACCENT = "#2563eb"
MUTED = "#6b7280"


def metric_over_time(
    points: Sequence[tuple[datetime, float, str]],
    *,
    label: str,
    width: int = 640,
    height: int = 180,
) -> str:
    """A line of ``(when, value, caption)`` points, values between 0 and 1.

    Returns:
        The SVG markup; a short sentence instead when there are no points.
    """
    if not points:
        return f'<p class="help">{escape(label)}: no promoted version yet.</p>'
    left, right, top, bottom = 40, 16, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [p[0].timestamp() for p in points]
    first, span = min(times), (max(times) - min(times)) or 1.0
    low = min(0.0, *(p[1] for p in points))

    def x(t: float) -> float:
        if len(points) == 1:
            return left + plot_w / 2
        return left + plot_w * (t - first) / span

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / ((1.0 - low) or 1.0))

    body = [
        f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" '
        f'stroke="#e5e7eb"/><text x="{left - 4}" y="{y(v) + 4:.1f}" '
        f'text-anchor="end" font-size="10" fill="{MUTED}">{v:.1f}</text>'
        for v in (0.0, 0.5, 1.0)
    ]
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(p[1]):.1f}"
        for i, (t, p) in enumerate(zip(times, points, strict=True))
    )
    body.append(f'<path d="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    for t, (when, value, caption) in zip(times, points, strict=True):
        body.append(
            f'<circle cx="{x(t):.1f}" cy="{y(value):.1f}" r="3.5" fill="{ACCENT}">'
            f"<title>{escape(caption)}: {value:.3f} ({when:%Y-%m-%d %H:%M})</title>"
            "</circle>"
        )
    body.append(
        f'<text x="{left}" y="{height - 8}" font-size="10" fill="{MUTED}">'
        f"{points[0][0]:%Y-%m-%d}</text>"
        f'<text x="{width - right}" y="{height - 8}" font-size="10" '
        f'text-anchor="end" fill="{MUTED}">{points[-1][0]:%Y-%m-%d}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(label)}" class="chart">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )
