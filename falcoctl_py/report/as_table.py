"""``-o table`` (default): a rich table for terminals, with estimate and warning notes under it."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table

NAME = "table"


def render(doc: dict[str, Any]) -> str:
    table = Table(title=f"falco-py sizing — profile {doc['profile']}")
    for col, justify in (
        ("pool", "left"),
        ("kind", "left"),
        ("pods", "right"),
        ("node CPUs", "right"),
        ("CPU req", "right"),
        ("CPU lim", "right"),
        ("mem req", "right"),
        ("mem lim", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for p in doc["pools"]:
        rq, lm = p["requests"], p["limits"]
        table.add_row(
            p["name"],
            p["kind"],
            str(p["count"]),
            str(p["node_cpus"]),
            rq["cpu"],
            lm["cpu"],
            rq["memory"],
            lm["memory"],
        )
    buf = io.StringIO()
    console = Console(file=buf, width=110, force_terminal=False, color_system=None)
    console.print(table)
    console.print(f"Total requests: {doc['totals']['cpu']} CPU, {doc['totals']['memory']} memory")
    console.print(doc["method"], soft_wrap=False)
    console.print(f"Strategy {doc['strategy']['name']}: {doc['strategy']['description']}")
    if doc["cost_model"]["estimated_terms"]:
        console.print("Estimated (not measured) costs: " + ", ".join(doc["cost_model"]["estimated_terms"]))
    for p in doc["pools"]:
        for w in p["warnings"]:
            console.print(f"warning: {p['name']}: {w}")
    return buf.getvalue()
