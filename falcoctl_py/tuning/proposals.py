"""Proposals: Falco ``exceptions`` that remove explained noise, written as an override rules file.

Owns: turning ``RuleNoise`` explanations into exception entries (name, fields, comps, values), the flagged
"disable" proposal for noise no exception can describe, and rendering the override YAML that loads on top of the
unmodified base rules (``override: {exceptions: append}``). Whether a proposal is safe is ``guard``'s call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import yaml

from falcoctl_py.tuning.noise import RuleNoise

EXCEPTION_PREFIX = "falcopy_tuned_"


@dataclass(frozen=True, slots=True)
class Proposal:
    rule: str
    kind: str  # "exception" or "disable"
    name: str = ""
    fields: tuple[str, ...] = ()
    comps: tuple[str, ...] = ()
    values: tuple[tuple[str, ...], ...] = ()
    expected_removed: int = 0  # alerts of the window it explains
    share: float = 0.0
    reason: str = ""
    accepted: bool = True
    refused_because: tuple[str, ...] = field(default=())

    def refuse(self, why: Sequence[str]) -> Proposal:
        return replace(self, accepted=False, refused_because=tuple(why))

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "kind": self.kind, "name": self.name, "fields": list(self.fields),
                "comps": list(self.comps), "values": [list(v) for v in self.values],
                "expected_removed": self.expected_removed, "share": round(self.share, 4),
                "reason": self.reason, "accepted": self.accepted, "refused_because": list(self.refused_because)}


def _exception_name(fields: Sequence[str]) -> str:
    return EXCEPTION_PREFIX + "_".join(re.sub(r"[^A-Za-z0-9]+", "_", f) for f in fields)


def propose(noise: Iterable[RuleNoise], *, min_per_hour: float = 60.0, min_count: int = 25,
            disable_unexplained_share: float = 0.5, disable_min_per_hour: float = 1000.0) -> list[Proposal]:
    """Exceptions for every rule noisier than ``min_per_hour`` with dominant values seen at least ``min_count``
    times (a handful of alerts is something to read, not noise to silence); a flagged disable for a very noisy
    rule (``disable_min_per_hour``) whose explanations cover less than ``disable_unexplained_share``.
    """
    out: list[Proposal] = []
    for rn in noise:
        if rn.per_hour < min_per_hour:
            continue
        grouped: dict[tuple[str, ...], list[tuple[tuple[str, ...], int, float]]] = {}
        for ex in rn.explanations:
            if ex.count >= min_count:
                grouped.setdefault(ex.fields, []).append((ex.values, ex.count, ex.share))
        for fields, rows in grouped.items():
            out.append(Proposal(
                rule=rn.rule, kind="exception", name=_exception_name(fields), fields=fields,
                comps=tuple("=" for _ in fields), values=tuple(v for v, _, _ in rows),
                expected_removed=sum(c for _, c, _ in rows), share=sum(s for _, _, s in rows),
                reason=f"{sum(s for _, _, s in rows):.0%} of {rn.count} alerts share these values",
            ))
        if rn.per_hour >= disable_min_per_hour and rn.explained_share < disable_unexplained_share:
            out.append(Proposal(
                rule=rn.rule, kind="disable", expected_removed=rn.count - sum(e.count for e in rn.explanations),
                share=1.0 - rn.explained_share, accepted=False,
                reason=(f"{rn.per_hour:.0f} alerts/h with no dominant field value: no exception can describe "
                        "this noise; disabling loses the rule's detections, review by hand"),
                refused_because=("needs review: disabling a rule is never applied automatically",),
            ))
    return out


def render_override(proposals: Iterable[Proposal], *, header: str = "") -> str:
    """The accepted exception proposals as a Falco rules file that loads on top of the base rules."""
    items: list[dict[str, object]] = []
    by_rule: dict[str, list[Proposal]] = {}
    for p in proposals:
        if p.accepted and p.kind == "exception":
            by_rule.setdefault(p.rule, []).append(p)
    for rule, props in by_rule.items():
        items.append({
            "rule": rule,
            "exceptions": [{"name": p.name, "fields": list(p.fields), "comps": list(p.comps),
                            "values": [list(v) for v in p.values]} for p in props],
            "override": {"exceptions": "append"},
        })
    body = yaml.safe_dump(items, sort_keys=False, default_flow_style=None, width=120) if items else "[]\n"
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    return ("\n".join(lines) + "\n" if lines else "") + body
