"""Inline SVG charts for self-contained HTML reports (no scripts, no external assets).

Owns: drawing line charts over time and horizontal grouped bar charts. It knows nothing about what is plotted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _fmt(v: float) -> str:
    if abs(v) >= 1e9:
        return f"{v / 1e9:.1f}G"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.3g}"


def line_chart(title: str, series: Mapping[str, Sequence[tuple[float, float]]], *, y_label: str = "",
               width: int = 640, height: int = 240) -> str:
    """Lines of (x, y) points, x in seconds; a legend entry per series."""
    pad_l, pad_r, pad_t, pad_b = 56, 12, 28, 30
    pts = [p for s in series.values() for p in s]
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" role="img">' \
               f'<text x="4" y="24">{escape(title)}: no data</text></svg>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y1 = max(max(p[1] for p in pts), 1e-12)
    x1 = x1 if x1 > x0 else x0 + 1
    sx = (width - pad_l - pad_r) / (x1 - x0)
    sy = (height - pad_t - pad_b) / y1
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">'),
             f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#999"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="#999"/>']
    for frac in (0.0, 0.5, 1.0):
        y = height - pad_b - frac * y1 * sy
        parts.append(f'<text x="{pad_l - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(frac * y1)}</text>')
    parts.append(f'<text x="{width - pad_r}" y="{height - 8}" text-anchor="end">{_fmt(x1 - x0)} s</text>')
    if y_label:
        parts.append(f'<text x="4" y="{pad_t - 8}">{escape(y_label)}</text>')
    for i, (name, s) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{pad_l + (x - x0) * sx:.1f},{height - pad_b - y * sy:.1f}" for x, y in s)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        parts.append(f'<text x="{width - pad_r - 4}" y="{pad_t + 12 * (i + 1)}" text-anchor="end" '
                     f'fill="{color}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, rows: Sequence[tuple[str, Sequence[float]]], *, legend: Sequence[str],
              limit: float | None = None, width: int = 640) -> str:
    """Horizontal grouped bars: one row per label, one bar per legend entry; optional vertical limit line."""
    bar_h, gap, pad_l, pad_t = 10, 8, 220, 36
    height = pad_t + len(rows) * (bar_h * len(legend) + gap) + 10
    top = max([v for _, vals in rows for v in vals] + [limit or 0.0, 1e-12])
    scale = (width - pad_l - 60) / top
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">'),
             f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, name in enumerate(legend):
        parts.append(f'<text x="{pad_l + 90 * i}" y="30" fill="{PALETTE[i % len(PALETTE)]}">{escape(name)}</text>')
    y = pad_t
    for label, vals in rows:
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(f'<text x="{pad_l - 6}" y="{y + bar_h}" text-anchor="end">{escape(short)}</text>')
        for i, v in enumerate(vals):
            parts.append(f'<rect x="{pad_l}" y="{y}" width="{max(v * scale, 0.5):.1f}" height="{bar_h - 1}" '
                         f'fill="{PALETTE[i % len(PALETTE)]}"/>'
                         f'<text x="{pad_l + v * scale + 4:.1f}" y="{y + bar_h - 1}">{_fmt(v)}</text>')
            y += bar_h
        y += gap
    if limit is not None:
        x = pad_l + limit * scale
        parts.append(f'<line x1="{x:.1f}" y1="{pad_t - 4}" x2="{x:.1f}" y2="{height - 6}" stroke="#000" '
                     f'stroke-dasharray="4,3"/><text x="{x + 3:.1f}" y="{height - 8}">budget</text>')
    parts.append("</svg>")
    return "".join(parts)
