"""``-o markdown``: a pool table, the reasons behind each number, and which costs are estimates."""

from __future__ import annotations

from typing import Any

NAME = "markdown"


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|")


def render(doc: dict[str, Any]) -> str:
    lines = [
        f"# Sizing for profile `{doc['profile']}`",
        "",
        doc["method"],
        "",
        f"Strategy `{doc['strategy']['name']}`: {doc['strategy']['description']}.",
        "",
        "| pool | kind | pods | node CPUs | CPU request | CPU limit | memory request | memory limit |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in doc["pools"]:
        rq, lm = p["requests"], p["limits"]
        lines.append(
            f"| {_esc(p['name'])} | {p['kind']} | {p['count']} | {p['node_cpus']} | {rq['cpu']} | "
            f"{lm['cpu']} | {rq['memory']} | {lm['memory']} |"
        )
    lines += [
        "",
        f"Total requests: {doc['totals']['cpu']} CPU, {doc['totals']['memory']} memory.",
        "",
        "## Reasons",
        "",
    ]
    for p in doc["pools"]:
        lines.append(f"- **{_esc(p['name'])}**")
        for r in p["reasons"]:
            extra = " (floor applied)" if r["floor_applied"] else ""
            bump = f"; bump: {r['bump']}" if r["bump"] else ""
            lines.append(f"  - {r['quantity']}: {_esc(r['basis'])}{extra}{bump} — follows {r['follows']}")
        for w in p["warnings"]:
            lines.append(f"  - warning: {_esc(w)}")
    est = doc["cost_model"]["estimated_terms"]
    lines += ["", f"Cost model: {doc['cost_model']['origin']} ({doc['cost_model']['method']})."]
    if est:
        lines.append(f"Estimates, not measurements: {', '.join(f'`{t}`' for t in est)}.")
    return "\n".join(lines) + "\n"
