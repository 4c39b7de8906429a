"""``-o html``: one self-contained page (inline CSS and SVG plots, no external assets or scripts)."""

from __future__ import annotations

from html import escape
from typing import Any

from falcoctl_py.quantity import format_cpu, format_memory
from falcoctl_py.report.svg import grouped_bars

NAME = "html"
_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child{text-align:left}"
    ".warn{color:#a40}.est{color:#666;font-style:italic}"
)


def render(doc: dict[str, Any]) -> str:
    pools = doc["pools"]
    labels = [p["name"] for p in pools]
    cpu_svg = grouped_bars(
        "CPU per engine pod",
        labels,
        series=[
            ("request", "#4a7fb5", [p["requests"]["cpu_millicores"] for p in pools]),
            ("limit", "#b5844a", [p["limits"]["cpu_millicores"] for p in pools]),
        ],
        fmt=lambda v: format_cpu(int(v)),
    )
    mem_svg = grouped_bars(
        "Memory per engine pod",
        labels,
        series=[
            ("request", "#4a7fb5", [p["requests"]["memory_bytes"] for p in pools]),
            ("limit", "#b5844a", [p["limits"]["memory_bytes"] for p in pools]),
        ],
        fmt=lambda v: format_memory(int(v)) if int(v) % 1024 == 0 else f"{v / 2**20:.0f}Mi",
    )
    rows = "".join(
        f"<tr><td>{escape(p['name'])}</td><td>{escape(p['kind'])}</td><td>{p['count']}</td><td>{p['node_cpus']}</td>"
        f"<td>{p['requests']['cpu']}</td><td>{p['limits']['cpu']}</td><td>{p['requests']['memory']}</td>"
        f"<td>{p['limits']['memory']}</td></tr>"
        for p in pools
    )
    reasons = "".join(
        f"<li><b>{escape(p['name'])}</b><ul>"
        + "".join(
            f"<li>{escape(r['quantity'])}: {escape(r['basis'])}"
            f"{' (floor applied)' if r['floor_applied'] else ''} — follows {escape(r['follows'])}</li>"
            for r in p["reasons"]
        )
        + "".join(f'<li class="warn">warning: {escape(w)}</li>' for w in p["warnings"])
        + "</ul></li>"
        for p in pools
    )
    est = doc["cost_model"]["estimated_terms"]
    est_html = f'<p class="est">Estimates, not measurements: {escape(", ".join(est))}.</p>' if est else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>falco-py sizing: '
        f"{escape(doc['profile'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>Sizing for profile {escape(doc['profile'])}</h1><p>{escape(doc['method'])}</p>"
        f"<p>Strategy {escape(doc['strategy']['name'])}: {escape(doc['strategy']['description'])}.</p>"
        f"<table><tr><th>pool</th><th>kind</th><th>pods</th><th>node CPUs</th><th>CPU request</th>"
        f"<th>CPU limit</th><th>memory request</th><th>memory limit</th></tr>{rows}</table>"
        f"<p>Total requests: {doc['totals']['cpu']} CPU, {doc['totals']['memory']} memory.</p>"
        f"{cpu_svg}{mem_svg}<h2>Reasons</h2><ul>{reasons}</ul>"
        f"<p>Cost model: {escape(doc['cost_model']['origin'])} ({escape(doc['cost_model']['method'])}).</p>"
        f"{est_html}</body></html>\n"
    )
