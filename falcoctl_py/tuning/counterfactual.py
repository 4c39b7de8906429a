"""Counterfactual checks: the noisy events an exception hides, copied with one identity dimension changed, must
still raise the rule through the base rules plus the exception.

Owns: choosing the sample of hidden noise per proposal, making the copies (``identity.counterfactuals``), and the
verdict per copy. A copy counts only when the base rules raise some rule on it (otherwise the change made it benign
and there is nothing to keep; with first-match rules it may be an earlier rule), and it must raise the same rules
through base + exception. A dimension the exception does not name, and that the noise itself shows with
several values, is one the exception deliberately spans: its copies are not required to fire and are reported as
spanned. Everything else (another user, namespace, image, binary, parent) must fire, or the proposal is refused
with the copy it would hide. Without events (in-cluster, alerts only) the same copies are made of the alerts'
field values and checked against the exception itself.

Must not: load rules files or render overrides (``guard`` hands in rulesets), or choose what to propose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from falcoctl_py.tuning.identity import counterfactuals, describe, dimensions, read_fields
from falcoctl_py.tuning.proposals import Proposal

SAMPLES_PER_ROW = 3
CF_VALUE = "falcopy-counterfactual"


@dataclass
class Verdict:
    checked: int = 0  # copies that the base rules raise and that had to keep firing
    spanned: list[str] = field(default_factory=list)  # dimensions the exception spans by evidence
    hidden: list[dict[str, object]] = field(default_factory=list)  # copies the exception would hide


def _raises(ruleset: Any, rule: str, event: Any) -> bool:
    return any(r.name == rule for r in ruleset.evaluate(event))


def _names(ruleset: Any, event: Any) -> set[str]:
    return {r.name for r in ruleset.evaluate(event)}


def hidden_sample(p: Proposal, events: Sequence[Any], base: Any, alone: Any) -> list[Any]:
    """Up to SAMPLES_PER_ROW events per values row that the base rules raise ``p.rule`` on and ``alone`` hides."""
    fields = list(p.fields)
    per_row: dict[int, int] = {}
    out = []
    for ev in events:
        values = read_fields(ev, fields)
        row = next((i for i, r in enumerate(p.values)
                    if Proposal(rule=p.rule, kind="exception", fields=p.fields, comps=p.comps,
                                values=(r,)).row_matches(values)), None)
        if row is None or per_row.get(row, 0) >= SAMPLES_PER_ROW:
            continue
        if _raises(base, p.rule, ev) and not _raises(alone, p.rule, ev):
            per_row[row] = per_row.get(row, 0) + 1
            out.append(ev)
        if len(per_row) == len(p.values) and all(n >= SAMPLES_PER_ROW for n in per_row.values()):
            break
    return out


def check_events(p: Proposal, events: Sequence[Any], *, base: Any, alone: Any) -> Verdict:
    """Event-level counterfactuals through the real rulesets (see the module docstring)."""
    v = Verdict()
    for ev in hidden_sample(p, events, base, alone):
        for dim, copy in counterfactuals(ev, skip=set(p.pinned)):
            if dim.field in p.varying and dim.field not in p.fields:
                if dim.name not in v.spanned:
                    v.spanned.append(dim.name)
                continue
            before = _names(base, copy)
            if not before:
                continue  # the change made it benign: nothing to keep
            v.checked += 1
            if before - _names(alone, copy):
                v.hidden.append({"check": "counterfactual", "changed": dim.name, "field": dim.field,
                                 "event": describe(copy), "noise_event": describe(ev)})
    return v


def check_alerts(p: Proposal, alerts: Sequence[Mapping[str, Any]]) -> Verdict:
    """Alert-level counterfactuals: the exception must not match a hidden alert with one identity changed."""
    v = Verdict()
    dims = [d for d in dimensions(p.source) if d.field not in p.pinned]
    taken = 0
    for a in alerts:
        if a.get("rule") != p.rule or not p.row_matches(a.get("output_fields") or {}):
            continue
        taken += 1
        if taken > SAMPLES_PER_ROW * max(1, len(p.values)):
            break
        fields = dict(a.get("output_fields") or {})
        for dim in dims:
            if fields.get(dim.field) in (None, "", "<NA>"):
                continue
            if dim.field in p.varying and dim.field not in p.fields:
                if dim.name not in v.spanned:
                    v.spanned.append(dim.name)
                continue
            v.checked += 1
            if p.row_matches({**fields, dim.field: CF_VALUE}):
                v.hidden.append({"check": "counterfactual", "changed": dim.name, "field": dim.field,
                                 "event": f"{p.rule} alert with {dim.field}={CF_VALUE} "
                                          f"(from {', '.join(f'{f}={fields.get(f)}' for f in p.fields)})"})
    return v
