"""The size report as plain data: the one shape every formatter reads (JSON output is exactly this).

Owns: converting a ``SizingResult`` to a dict with quantities both as Kubernetes strings (``"250m"``,
``"256Mi"``) and numbers (``cpu_millicores``, ``memory_bytes``), the reasons, and which cost terms are estimates.
It must not size (``falcoctl_py.sizing``) or format text.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from falcoctl_py.quantity import format_cpu, format_memory
from falcoctl_py.sizing import PoolSizing, SizingResult

REPORT_VERSION = 1
METHOD = (
    "Requests follow VPA (target = load at the policy percentile x cost per event + safety margin, floored); "
    "CPU limits cover the p99 load at the cost's upper bound; memory follows KRR (OOM bump x1.2 or +100 MiB, "
    "whichever is larger)."
)


def _qty(cpu_m: int, mem_b: int) -> dict[str, Any]:
    return {
        "cpu": format_cpu(cpu_m),
        "memory": format_memory(mem_b),
        "cpu_millicores": cpu_m,
        "memory_bytes": mem_b,
    }


def pool_document(p: PoolSizing) -> dict[str, Any]:
    f = p.facts
    return {
        "name": f.name,
        "kind": f.kind,
        "count": f.count,
        "node_cpus": f.node_cpus,
        "node_memory_bytes": f.node_memory_bytes,
        "pods_per_node": f.pods_per_node,
        "processes_per_node": f.processes_per_node,
        "rates": {s: {"p50": r.p50, "p90": r.p90, "p99": r.p99} for s, r in f.rates.items()},
        "requests": _qty(p.cpu_request_m, p.memory_request_bytes),
        "limits": _qty(p.cpu_limit_m, p.memory_limit_bytes),
        "total_requests": _qty(p.cpu_request_m * f.count, p.memory_request_bytes * f.count),
        "reasons": [asdict(r) for r in p.reasons],
        "warnings": list(p.warnings),
    }


def _strategy_description(name: str) -> str:
    from falcoctl_py import sizing_strategies

    return sizing_strategies.get(name).DESCRIPTION


def sizing_document(result: SizingResult) -> dict[str, Any]:
    pools = [pool_document(p) for p in result.pools]
    return {
        "report_version": REPORT_VERSION,
        "profile": result.profile,
        "method": METHOD,
        "strategy": {
            "name": result.policy.strategy,
            "description": _strategy_description(result.policy.strategy),
        },
        "policy": asdict(result.policy),
        "cost_model": {
            "origin": result.cost_model_origin,
            "method": result.cost_model_method,
            "estimated_terms": list(result.estimated_terms),
        },
        "pools": pools,
        "totals": _qty(
            sum(p["total_requests"]["cpu_millicores"] for p in pools),
            sum(p["total_requests"]["memory_bytes"] for p in pools),
        ),
    }
