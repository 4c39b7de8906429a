"""Rule noise: rank rules by alerts per hour and explain each noisy rule by the few field values behind it.

Owns: the explanation algorithm. Input is Falco JSON alerts (dicts with ``rule``, ``source``, ``priority`` and
typed ``output_fields``); output is plain data. It proposes nothing (``proposals`` turns explanations into
exceptions) and never reads files or talks to an engine.

How an explanation is found, per rule: among the identity fields the rule's output exposes (process, parent,
executable, image, namespace, user...), find the field values covering the most remaining alerts; one covering at
least ``min_share`` of the rule's alerts is a *dominant* value. Narrow each near-best anchor with every other
identity field that has one value on all of its alerts, and keep the most specific result, so the exception says
"this user in this namespace" rather than "anything in this namespace" when the evidence allows it.
Remove the covered alerts and repeat, up to ``max_explanations``. Noise spread thinly over many values yields no
explanation, and so no blanket exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Identity fields in order of preference as the anchor of an exception: stable, low-cardinality facts about who
# or what caused an alert. High-cardinality fields (cmdline, fd.name, times, ids) are deliberately absent.
IDENTITY_FIELDS: tuple[str, ...] = (
    "proc.exepath", "proc.name", "proc.pname", "proc.pexepath", "container.image.repository",
    "k8s.ns.name", "k8s.pod.label.app", "user.name", "user.loginname",
    "ka.user.name", "ka.target.namespace", "ka.target.resource", "ka.target.name", "ka.useragent",
    "ka.impuser.name", "container.name", "fd.name",
)
MAX_FIELDS = 3  # fields in one exception
NEAR_BEST = 0.9  # anchors covering at least this share of the best anchor's alerts compete on specificity


@dataclass(frozen=True, slots=True)
class Explanation:
    fields: tuple[str, ...]
    values: tuple[str, ...]
    count: int
    share: float  # of the rule's alerts


@dataclass(frozen=True, slots=True)
class RuleNoise:
    rule: str
    source: str
    priority: str
    count: int
    per_hour: float
    explanations: tuple[Explanation, ...]

    @property
    def explained_share(self) -> float:
        return sum(e.share for e in self.explanations)


def _scalar(value: Any) -> str | None:
    """A value usable in an exception: a non-empty string or number; lists and missing values are not."""
    if value is None or isinstance(value, (list, tuple, dict)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return None if text in ("", "<NA>") else text


def _identity_fields(alerts: Sequence[Mapping[str, Any]], preferred: Sequence[str]) -> list[str]:
    present: Counter[str] = Counter()
    for a in alerts:
        for k, v in (a.get("output_fields") or {}).items():
            if _scalar(v) is not None:
                present[k] += 1
    return [f for f in preferred if present[f] > 0]


def _narrow(covered: Sequence[Mapping[str, Any]], anchor: str, value: str,
            candidates: Sequence[str]) -> tuple[list[str], list[str]]:
    """The anchor plus every other identity field holding one value on all ``covered`` alerts (at most 3)."""
    names, values = [anchor], [value]
    for f in candidates:
        if f in names or len(names) >= MAX_FIELDS:
            continue
        counts = Counter(_scalar((a.get("output_fields") or {}).get(f)) for a in covered)
        top, count = counts.most_common(1)[0]
        if top is not None and count == len(covered):
            names.append(f)
            values.append(top)
    return names, values


def explain(alerts: Sequence[Mapping[str, Any]], *, fields: Sequence[str] = IDENTITY_FIELDS,
            min_share: float = 0.2, max_explanations: int = 3) -> tuple[Explanation, ...]:
    """Dominant field values of one rule's alerts, most covering first (see the module docstring)."""
    total = len(alerts)
    if total == 0:
        return ()
    candidates = _identity_fields(alerts, fields)
    remaining = list(alerts)
    out: list[Explanation] = []
    while remaining and len(out) < max_explanations:
        tops: list[tuple[int, int, str, str]] = []  # (count, preference, field, value)
        for pref, f in enumerate(candidates):
            counts = Counter(_scalar((a.get("output_fields") or {}).get(f)) for a in remaining)
            counts.pop(None, None)
            if counts:
                value, count = counts.most_common(1)[0]
                assert value is not None
                tops.append((count, pref, f, value))
        best = max((t[0] for t in tops), default=0)
        if best / total < min_share:
            break
        # Among anchors covering nearly as much as the best one, take the one whose narrowed explanation is the
        # most specific: "this user in this namespace" beats "anything in this namespace".
        choices = []
        for count, pref, f, value in tops:
            if count >= NEAR_BEST * best:
                covered = [a for a in remaining if _scalar((a.get("output_fields") or {}).get(f)) == value]
                names, values = _narrow(covered, f, value, candidates)
                choices.append((len(names), count, -pref, names, values, covered))
        _, count, _, names, values, covered = max(choices, key=lambda c: c[:3])
        out.append(Explanation(fields=tuple(names), values=tuple(values), count=count, share=count / total))
        remaining = [a for a in remaining if not _matches(a, names, values)]
    return tuple(out)


def _matches(alert: Mapping[str, Any], names: Sequence[str], values: Sequence[str]) -> bool:
    fields = alert.get("output_fields") or {}
    return all(_scalar(fields.get(n)) == v for n, v in zip(names, values))


def rank_rules(alerts: Iterable[Mapping[str, Any]], *, window_seconds: float, min_share: float = 0.2,
               fields: Sequence[str] = IDENTITY_FIELDS) -> list[RuleNoise]:
    """Rules by alerts per hour over the window (noisiest first), each with its explanations."""
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for a in alerts:
        by_rule.setdefault(str(a.get("rule", "")), []).append(a)
    hours = max(window_seconds, 1e-9) / 3600.0
    out = [
        RuleNoise(rule=rule, source=str(items[0].get("source", "")), priority=str(items[0].get("priority", "")),
                  count=len(items), per_hour=len(items) / hours,
                  explanations=explain(items, fields=fields, min_share=min_share))
        for rule, items in by_rule.items()
    ]
    out.sort(key=lambda r: (-r.count, r.rule))
    return out
