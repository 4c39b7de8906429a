"""Plain data recorded during a tuning window: one ``Sample`` per scrape of one engine.

Owns: the shape of a scrape as the analysis sees it, and the derived per-interval rates. It does not scrape or
parse anything (``collector`` does) and holds no analysis (``costmodel``, ``overhead``, ``noise`` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class Sample:
    """Cumulative counters and gauges of one engine at wall time ``t`` (seconds)."""

    t: float
    cpu_seconds: float
    rss_bytes: float
    events: dict[str, float] = field(default_factory=dict)  # source -> events_total
    drops: dict[str, float] = field(default_factory=dict)  # source -> drops_total (all reasons)
    matches: dict[str, float] = field(default_factory=dict)  # rule -> matches_total
    node: str = "local"
    pool: str = "default"
    build_info: dict[str, str] = field(default_factory=dict)  # falcopy_build_info's labels
    # (rule, namespace, workload) -> falcopy_rule_workload_matches_total
    workload_matches: dict[tuple[str, str, str], float] = field(default_factory=dict)

    @property
    def rules_checksum(self) -> str:
        return self.build_info.get("rules_checksum", "")


@dataclass(frozen=True, slots=True)
class Interval:
    """Rates between two consecutive samples of one engine."""

    t: float
    dt: float
    cpu_cores: float  # CPU seconds per second
    rss_bytes: float
    event_rates: dict[str, float]  # source -> events/s
    drop_rates: dict[str, float]
    node: str
    pool: str


def intervals(samples: Sequence[Sample]) -> list[Interval]:
    """Per-interval rates of one engine's samples (sorted by time); counter resets start a new baseline."""
    out: list[Interval] = []
    ordered = sorted(samples, key=lambda s: s.t)
    for prev, cur in pairwise(ordered):
        dt = cur.t - prev.t
        if dt <= 0 or cur.cpu_seconds < prev.cpu_seconds:
            continue  # duplicate scrape or restarted engine
        out.append(Interval(
            t=cur.t, dt=dt,
            cpu_cores=(cur.cpu_seconds - prev.cpu_seconds) / dt,
            rss_bytes=cur.rss_bytes,
            event_rates={s: max(0.0, cur.events.get(s, 0.0) - prev.events.get(s, 0.0)) / dt
                         for s in set(cur.events) | set(prev.events)},
            drop_rates={s: max(0.0, cur.drops.get(s, 0.0) - prev.drops.get(s, 0.0)) / dt
                        for s in set(cur.drops) | set(prev.drops)},
            node=cur.node, pool=cur.pool,
        ))
    return out


def by_node(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for s in samples:
        out.setdefault(s.node, []).append(s)
    return out


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of ``values``; 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))
