"""``-o csv``: one row per pool, quantities as numbers and Kubernetes strings."""

from __future__ import annotations

import csv as pycsv
import io
from typing import Any

NAME = "csv"
COLUMNS = (
    "pool",
    "kind",
    "count",
    "node_cpus",
    "cpu_request",
    "cpu_request_millicores",
    "cpu_limit",
    "cpu_limit_millicores",
    "memory_request",
    "memory_request_bytes",
    "memory_limit",
    "memory_limit_bytes",
    "warnings",
)


def render(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = pycsv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in doc["pools"]:
        rq, lm = p["requests"], p["limits"]
        writer.writerow(
            [
                p["name"],
                p["kind"],
                p["count"],
                p["node_cpus"],
                rq["cpu"],
                rq["cpu_millicores"],
                lm["cpu"],
                lm["cpu_millicores"],
                rq["memory"],
                rq["memory_bytes"],
                lm["memory"],
                lm["memory_bytes"],
                "; ".join(p["warnings"]),
            ]
        )
    return out.getvalue()
