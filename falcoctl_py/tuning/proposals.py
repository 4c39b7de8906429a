"""Proposals: Falco ``exceptions`` that remove explained noise, written as an override rules file.

Owns: turning ``RuleNoise`` explanations into exception entries (name, fields, comps, values), preferring to
append values to an exception the rule declares itself when its fields fit the explanation (the new named
exception is kept as the fallback), the flagged "disable" proposal for noise no exception can describe, and
rendering the override YAML that loads on top of the unmodified base rules (``override: {exceptions: append}``).
Whether a proposal is safe is ``guard``'s call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import yaml

from falcoctl_py.tuning.declared import DeclaredException
from falcoctl_py.tuning.identity import ALL_ANCHORS, LIST_FIELDS, LIST_SEP
from falcoctl_py.tuning.noise import Explanation, RuleNoise

EXCEPTION_PREFIX = "falcopy_tuned_"


@dataclass(frozen=True, slots=True)
class Proposal:
    rule: str
    kind: str  # "exception" or "disable"
    name: str = ""
    fields: tuple[str, ...] = ()
    comps: tuple[str, ...] = ()
    values: tuple[tuple[object, ...], ...] = ()
    expected_removed: int = 0  # alerts of the window it explains
    share: float = 0.0
    reason: str = ""
    accepted: bool = True
    refused_because: tuple[str, ...] = field(default=())
    source: str = ""
    declared: bool = False  # appends values to the rule's own exception ``name``
    varying: tuple[str, ...] = ()  # identity fields the evidence shows with several values (the exception spans them)
    pinned: tuple[str, ...] = ()  # fields the rule's condition pins
    fallback: Proposal | None = field(default=None, compare=False)  # a new named exception if this one is refused
    hidden: tuple[dict[str, object], ...] = ()  # events a guard check lost with this proposal (why it was refused)
    checks: int = 0  # guard detections and counterfactual copies checked

    def refuse(self, why: Sequence[str], hidden: Sequence[dict[str, object]] = ()) -> Proposal:
        return replace(self, accepted=False, refused_because=tuple(why), hidden=tuple(hidden))

    def row_matches(self, values: Mapping[str, object]) -> bool:
        """Whether the exception hides an alert with these field values (``=`` and ``in`` comparisons)."""
        for row in self.values:
            if all(_cmp(c, values.get(f), v) for f, c, v in zip(self.fields, self.comps, row)):
                return True
        return False

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "kind": self.kind, "name": self.name, "fields": list(self.fields),
                "comps": list(self.comps), "values": _rows(self.values),
                "expected_removed": self.expected_removed, "share": round(self.share, 4),
                "reason": self.reason, "accepted": self.accepted, "refused_because": list(self.refused_because),
                "declared": self.declared, "varying": list(self.varying), "hidden": list(self.hidden),
                "checks": self.checks, "yaml": render_override([replace(self, accepted=True)])}


def _rows(values: Sequence[Sequence[object]]) -> list[list[object]]:
    return [[list(x) if isinstance(x, tuple) else x for x in row] for row in values]


def _cmp(comp: str, actual: object, expected: object) -> bool:
    if actual is None:
        return False
    text = str(actual).lower() if isinstance(actual, bool) else str(actual)
    if comp == "in":
        allowed = [str(e) for e in expected] if isinstance(expected, (list, tuple)) else [str(expected)]
        if isinstance(actual, (list, tuple)):  # a list field: every value must be allowed (Falco's ``in``)
            return bool(actual) and all(str(a) in allowed for a in actual)
        if LIST_SEP in text:
            return all(part in allowed for part in text.split(LIST_SEP))
        return text in allowed
    return text == str(expected)


def _exception_name(fields: Sequence[str]) -> str:
    return EXCEPTION_PREFIX + "_".join(re.sub(r"[^A-Za-z0-9]+", "_", f) for f in fields)


def _fitting(declared: Sequence[DeclaredException], ex: Explanation, pinned: Sequence[str]) -> tuple[
        DeclaredException, tuple[object, ...]] | None:
    """The first declared exception whose fields all hold one value in the explanation, name an identity anchor
    and no pinned field, with ``=``/``in`` operators; and the values row for it."""
    stable = dict(zip(ex.fields, ex.values))
    for d in declared:
        if (set(d.fields) <= set(stable) and set(d.fields) & ALL_ANCHORS and not set(d.fields) & set(pinned)
                and all(c in ("=", "in") for c in d.comps)):
            return d, tuple((stable[f],) if c == "in" else stable[f] for f, c in zip(d.fields, d.comps))
    return None


def propose(noise: Iterable[RuleNoise], *, declared: Mapping[str, Sequence[DeclaredException]] | None = None,
            min_per_hour: float = 60.0, min_count: int = 25, disable_unexplained_share: float = 0.5,
            disable_min_per_hour: float = 1000.0) -> list[Proposal]:
    """Exceptions for every rule noisier than ``min_per_hour`` with dominant identities seen at least
    ``min_count`` times (a handful of alerts is something to read, not noise to silence): values appended to the
    rule's own exception when one fits, else a new named exception; a flagged disable for a very noisy rule
    (``disable_min_per_hour``) whose explanations cover less than ``disable_unexplained_share``.
    """
    out: list[Proposal] = []
    for rn in noise:
        if rn.per_hour < min_per_hour:
            continue
        grouped: dict[tuple[str, ...], list[Explanation]] = {}
        for ex in rn.explanations:
            if ex.count >= min_count:
                grouped.setdefault(ex.fields, []).append(ex)
        own: dict[str, tuple[DeclaredException, list[tuple[tuple[object, ...], Explanation]]]] = {}
        for fields, exs in grouped.items():
            new = _new_exception(rn, fields, exs)
            fits = [(_fitting((declared or {}).get(rn.rule, ()), ex, rn.pinned), ex) for ex in exs]
            if all(f is not None for f, _ in fits):
                for f, ex in fits:
                    assert f is not None
                    own.setdefault(f[0].name, (f[0], []))[1].append((f[1], ex))
                own_names = {f[0].name for f, _ in fits if f is not None}
                if len(own_names) == 1:
                    d, rows = own.pop(own_names.pop())
                    out.append(replace(new, name=d.name, fields=d.fields, comps=d.comps, declared=True,
                                       values=tuple(tuple(r) for r, _ in rows), fallback=new,
                                       reason=new.reason + f"; appended to the rule's own exception '{d.name}'"))
                    continue
            out.append(new)
        if rn.per_hour >= disable_min_per_hour and rn.explained_share < disable_unexplained_share:
            out.append(Proposal(
                rule=rn.rule, kind="disable", expected_removed=rn.count - sum(e.count for e in rn.explanations),
                share=1.0 - rn.explained_share, accepted=False, source=rn.source, pinned=rn.pinned,
                reason=(f"{rn.per_hour:.0f} alerts/h with no dominant identity: no exception can describe "
                        "this noise; disabling loses the rule's detections, review by hand"),
                refused_because=("needs review: disabling a rule is never applied automatically",),
            ))
    return out


def _new_exception(rn: RuleNoise, fields: tuple[str, ...], exs: Sequence[Explanation]) -> Proposal:
    share = sum(e.share for e in exs)
    return Proposal(
        rule=rn.rule, kind="exception", name=_exception_name(fields), fields=fields,
        comps=tuple("in" if f in LIST_FIELDS else "=" for f in fields),
        values=tuple(tuple(tuple(v.split(LIST_SEP)) if f in LIST_FIELDS else v for f, v in zip(fields, e.values))
                     for e in exs),
        expected_removed=sum(e.count for e in exs), share=share, source=rn.source, pinned=rn.pinned,
        varying=tuple(sorted({f for e in exs for f in e.varying})),
        reason=f"{share:.0%} of {rn.count} alerts come from these identities",
    )


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
            # Values for the rule's own exception are appended to it (fields and operators stay the author's).
            "exceptions": [{"name": p.name, "values": _rows(p.values)} if p.declared else
                           {"name": p.name, "fields": list(p.fields), "comps": list(p.comps),
                            "values": _rows(p.values)} for p in props],
            "override": {"exceptions": "append"},
        })
    body = yaml.safe_dump(items, sort_keys=False, default_flow_style=None, width=120) if items else "[]\n"
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    return ("\n".join(lines) + "\n" if lines else "") + body
