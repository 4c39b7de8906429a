"""Engine overhead per node and pool against a budget (default: p95 CPU ≤ 2% of the node, memory ≤ 3%).

Owns: the budget verdicts. Requests/limits that would meet a budget come from ``falcoctl_py.sizing``; this module
only measures and judges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from falcoctl_py.tuning.samples import Interval, percentile


@dataclass(frozen=True, slots=True)
class Budget:
    cpu_fraction: float = 0.02
    memory_fraction: float = 0.03
    percentile: float = 95.0


@dataclass(frozen=True, slots=True)
class NodeShape:
    cpu_cores: float
    memory_bytes: float


@dataclass(frozen=True, slots=True)
class Overhead:
    node: str
    pool: str
    intervals: int
    cpu_cores_p50: float
    cpu_cores_p95: float
    cpu_cores_max: float
    rss_bytes_p95: float
    rss_bytes_max: float
    cpu_fraction_p95: float
    memory_fraction_p95: float
    within_budget: bool
    verdict: str
    event_rates_p95: dict[str, float]
    drops_total_rate: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def node_overhead(node: str, pool: str, ivs: Sequence[Interval], *, shape: NodeShape,
                  budget: Budget = Budget()) -> Overhead:
    cpu = [iv.cpu_cores for iv in ivs]
    rss = [iv.rss_bytes for iv in ivs]
    q = budget.percentile
    cpu_p = percentile(cpu, q)
    rss_p = percentile(rss, q)
    cpu_frac = cpu_p / shape.cpu_cores if shape.cpu_cores else 0.0
    mem_frac = rss_p / shape.memory_bytes if shape.memory_bytes else 0.0
    over = []
    if cpu_frac > budget.cpu_fraction:
        over.append(f"CPU p{q:.0f} {cpu_frac:.2%} of the node > {budget.cpu_fraction:.0%}")
    if mem_frac > budget.memory_fraction:
        over.append(f"memory p{q:.0f} {mem_frac:.2%} of the node > {budget.memory_fraction:.0%}")
    sources = sorted({s for iv in ivs for s in iv.event_rates})
    return Overhead(
        node=node, pool=pool, intervals=len(ivs),
        cpu_cores_p50=percentile(cpu, 50), cpu_cores_p95=cpu_p, cpu_cores_max=max(cpu, default=0.0),
        rss_bytes_p95=rss_p, rss_bytes_max=max(rss, default=0.0),
        cpu_fraction_p95=cpu_frac, memory_fraction_p95=mem_frac,
        within_budget=not over, verdict="; ".join(over) if over else "within budget",
        event_rates_p95={s: percentile([iv.event_rates.get(s, 0.0) for iv in ivs], q) for s in sources},
        drops_total_rate=sum(sum(iv.drop_rates.values()) * iv.dt for iv in ivs),
    )


def pool_overhead(per_node: Mapping[str, Overhead]) -> dict[str, dict[str, object]]:
    """Worst node per pool (the budget must hold on every node of a pool)."""
    pools: dict[str, list[Overhead]] = {}
    for ov in per_node.values():
        pools.setdefault(ov.pool, []).append(ov)
    out: dict[str, dict[str, object]] = {}
    for pool, items in sorted(pools.items()):
        worst_cpu = max(items, key=lambda o: o.cpu_fraction_p95)
        worst_mem = max(items, key=lambda o: o.memory_fraction_p95)
        out[pool] = {"nodes": len(items), "cpu_fraction_p95": worst_cpu.cpu_fraction_p95,
                     "memory_fraction_p95": worst_mem.memory_fraction_p95,
                     "cpu_cores_p95": worst_cpu.cpu_cores_p95, "rss_bytes_p95": worst_mem.rss_bytes_p95,
                     "within_budget": all(o.within_budget for o in items),
                     "worst_node": worst_cpu.node}
    return out
