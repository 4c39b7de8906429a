"""Inline SVG bar charts for the HTML report (no external assets, no JavaScript).

Owns: drawing grouped horizontal bars (request vs limit per pool) as an SVG string with escaped labels. It must not
know about sizing; it receives labels and numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape


def grouped_bars(
    title: str,
    labels: Sequence[str],
    *,
    series: Sequence[tuple[str, str, Sequence[float]]],
    fmt: Callable[[float], str],
    width: int = 640,
) -> str:
    """``series`` is ``(name, colour, values)``; one bar per series per label, scaled to the largest value."""
    bar_h, gap, left, top = 14, 10, 140, 30
    rows = len(labels)
    height = top + rows * (bar_h * len(series) + gap) + 30
    peak = max((v for _, _, vals in series for v in vals), default=0.0) or 1.0
    span = width - left - 90
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}" viewBox="0 0 {width} {height}">'
        ),
        f"<title>{escape(title)}</title>",
        f'<text x="4" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    y = top
    for i, label in enumerate(labels):
        parts.append(f'<text x="4" y="{y + bar_h}" font-size="12">{escape(label)}</text>')
        for name, colour, vals in series:
            w = max(1.0, vals[i] / peak * span)
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" fill="{colour}">'
                f"<title>{escape(label)} {escape(name)}: {escape(fmt(vals[i]))}</title></rect>"
            )
            parts.append(
                f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3}" font-size="11">'
                f"{escape(fmt(vals[i]))}</text>"
            )
            y += bar_h
        y += gap
    lx = left
    for name, colour, _ in series:
        parts.append(
            f'<rect x="{lx}" y="{height - 18}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{height - 9}" font-size="11">{escape(name)}</text>'
        )
        lx += 110
    parts.append("</svg>")
    return "".join(parts)
