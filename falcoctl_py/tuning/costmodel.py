"""Fit the engine's cost model (CPU per 1,000 events per source, memory) from measured intervals.

Owns: the least-squares fit and its spread, and filling the cost-model document (the format
``falcoctl_py/schemas/cost-model.schema.json`` defines and ``--cost-model`` reads). Costs it cannot measure in a
window keep the given defaults and stay marked ``estimate: true``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from falcoctl_py.tuning.samples import Interval

MIN_RATE = 1.0  # events/s below which a source counts as idle in an interval


@dataclass(frozen=True, slots=True)
class Fit:
    value: float  # CPU seconds per 1,000 events
    spread: float  # standard error of the value
    samples: int


def _solve(a: list[list[float]], b: list[float]) -> list[float] | None:
    """Gauss-Jordan with partial pivoting; None when singular."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[piv][col]) < 1e-12:
            return None
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def _inverse_diag(a: list[list[float]]) -> list[float]:
    n = len(a)
    out = []
    for i in range(n):
        e = [1.0 if j == i else 0.0 for j in range(n)]
        col = _solve(a, e)
        out.append(col[i] if col else math.inf)
    return out


def fit_cpu(intervals: Sequence[Interval], *, idle_cores: float) -> dict[str, Fit]:
    """CPU seconds per 1,000 events per source: cpu - idle = sum_s cost_s * rate_s / 1000, least squares.

    Sources whose rate never rises above ``MIN_RATE`` are not fitted. Negative solutions are dropped and the rest
    refitted (a cost is never negative).
    """
    sources = sorted({s for iv in intervals for s, r in iv.event_rates.items() if r >= MIN_RATE})
    rows = [iv for iv in intervals if any(iv.event_rates.get(s, 0.0) >= MIN_RATE for s in sources)]
    while sources and rows:
        x = [[iv.event_rates.get(s, 0.0) / 1000.0 for s in sources] for iv in rows]
        y = [iv.cpu_cores - idle_cores for iv in rows]
        xtx = [[sum(r[i] * r[j] for r in x) for j in range(len(sources))] for i in range(len(sources))]
        xty = [sum(r[i] * yy for r, yy in zip(x, y)) for i in range(len(sources))]
        coef = _solve(xtx, xty)
        if coef is None:
            return {}
        negative = [s for s, c in zip(sources, coef) if c < 0]
        if negative:
            sources = [s for s in sources if s not in negative]
            continue
        resid = [yy - sum(c * xi for c, xi in zip(coef, r)) for r, yy in zip(x, y)]
        dof = max(1, len(rows) - len(sources))
        sigma2 = sum(e * e for e in resid) / dof
        diag = _inverse_diag(xtx)
        return {s: Fit(value=c, spread=math.sqrt(max(0.0, sigma2 * d)), samples=len(rows))
                for s, c, d in zip(sources, coef, diag)}
    return {}


def _entry(value: float, spread: float, samples: int, *, estimate: bool, how: str) -> dict[str, Any]:
    return {"value": float(value), "spread": float(spread), "samples": int(samples), "estimate": estimate,
            "how": how}


def build_cost_model(intervals: Sequence[Interval], *, idle_cores: float, idle_rss_bytes: float,
                     defaults: Mapping[str, Any], engine_version: str, method: str,
                     process_count: int | None = None) -> dict[str, Any]:
    """A cost-model document: fitted where the window measured it, ``defaults`` (marked as such) elsewhere."""
    fits = fit_cpu(intervals, idle_cores=idle_cores)
    cpu: dict[str, Any] = {}
    for source, default in (defaults.get("cpu_seconds_per_1k_events") or {}).items():
        fit = fits.get(source)
        if fit is not None:
            cpu[source] = _entry(fit.value, fit.spread, fit.samples, estimate=False,
                                 how=f"{method}: least squares of engine CPU above idle against {source} events/s "
                                     f"over {fit.samples} one-second intervals")
        else:
            cpu[source] = dict(default)
    memory = {k: dict(v) for k, v in (defaults.get("memory") or {}).items()}
    if idle_rss_bytes > 0:
        memory["base_bytes"] = _entry(idle_rss_bytes, 0.0, 1, estimate=False,
                                      how=f"{method}: engine RSS with rules loaded, before events")
    if process_count and intervals:
        peak = max(iv.rss_bytes for iv in intervals)
        per_proc = max(0.0, peak - idle_rss_bytes) / process_count
        memory["per_process_bytes"] = _entry(per_proc, 0.0, len(intervals), estimate=True,
                                             how=f"{method}: RSS growth over {process_count} tracked processes "
                                                 "(upper bound: includes other state)")
    return {
        "schema_version": 1,
        "engine_version": engine_version,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "method": method,
        "cpu_seconds_per_1k_events": cpu,
        "memory": memory,
    }
