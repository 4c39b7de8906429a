"""Replay a window's events through rulesets: the alerts with their identities, and alert volume over time.

Owns: running recorded events through the base rules (each alert carries every identity field of its source and
the fields of the rule's own exceptions, whatever the rule's output prints, plus the events behind each rule for
counterfactual checks), counting what the tuned rules still raise, and bucketing alerts over the window before
and after. Alert-only windows (in-cluster) bucket the alerts' own times. Pure functions over loaded rulesets.

Must not: load rules files, propose or judge exceptions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from falcoctl_py.tuning.identity import read_fields
from falcoctl_py.tuning.noise import candidate_fields

BUCKETS = 24


@dataclass
class BasePass:
    alerts: list[dict[str, Any]] = field(default_factory=list)  # Falco-shaped, identity fields in output_fields
    events_by_rule: dict[str, list[Any]] = field(default_factory=dict)
    marks: list[tuple[float, str]] = field(default_factory=list)  # (position in the window 0..1, rule)
    counts: Counter[str] = field(default_factory=Counter)


def base_pass(ruleset: Any, events: Sequence[Any], *,
              extra_fields: Mapping[str, Sequence[str]] | None = None) -> BasePass:
    out = BasePass()
    n = max(len(events), 1)
    fields_of: dict[tuple[str, str], tuple[str, ...]] = {}
    for i, ev in enumerate(events):
        for rule in ruleset.evaluate(ev):
            key = (rule.name, ev.source)
            fields = fields_of.get(key)
            if fields is None:
                fields = fields_of[key] = candidate_fields(ev.source, (extra_fields or {}).get(rule.name, ()))
            out.alerts.append({"rule": rule.name, "source": ev.source, "priority": rule.priority.falco_name,
                               "output_fields": read_fields(ev, fields)})
            out.events_by_rule.setdefault(rule.name, []).append(ev)
            out.marks.append((i / n, rule.name))
            out.counts[rule.name] += 1
    return out


def tuned_pass(ruleset: Any, events: Sequence[Any]) -> tuple[Counter[str], list[tuple[float, str]]]:
    counts: Counter[str] = Counter()
    marks: list[tuple[float, str]] = []
    n = max(len(events), 1)
    for i, ev in enumerate(events):
        for rule in ruleset.evaluate(ev):
            counts[rule.name] += 1
            marks.append((i / n, rule.name))
    return counts, marks


def _bucketed(marks: Iterable[tuple[float, str]], rules: Sequence[str]) -> dict[str, list[int]]:
    out = {r: [0] * BUCKETS for r in rules}
    for pos, rule in marks:
        if rule in out:
            out[rule][min(BUCKETS - 1, int(pos * BUCKETS))] += 1
    return out


def volume(before: Iterable[tuple[float, str]], after: Iterable[tuple[float, str]], *, duration: float,
           rules: Sequence[str]) -> dict[str, Any]:
    """Alerts per bucket of the window, per rule, before and after tuning (``rules``: which rules to keep)."""
    b, a = _bucketed(before, rules), _bucketed(after, rules)
    return {"bucket_seconds": duration / BUCKETS,
            "rules": {r: {"before": b[r], "after": a[r]} for r in rules}}


def _seconds(stamp: Any) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    text = stamp.rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        whole = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return None
    return whole + (float("0." + frac) if frac.isdigit() else 0.0)


def alert_marks(alerts: Sequence[Mapping[str, Any]], kept: Callable[[Mapping[str, Any]], bool]
                ) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """(before, after) marks from alerts' own times; ``kept(alert)``: whether the tuned rules still raise it."""
    times = [_seconds(a.get("time")) for a in alerts]
    known = [t for t in times if t is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
    span = max(hi - lo, 1e-9)
    before, after = [], []
    for a, t in zip(alerts, times):
        pos = 0.0 if t is None else min(0.999999, (t - lo) / span)
        rule = str(a.get("rule"))
        before.append((pos, rule))
        if kept(a):
            after.append((pos, rule))
    return before, after
