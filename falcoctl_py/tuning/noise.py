"""Rule noise: rank rules by alerts per hour and explain each noisy rule by the few field values behind it.

Owns: the explanation algorithm. Input is Falco JSON alerts (dicts with ``rule``, ``source``, ``priority`` and
typed ``output_fields``); output is plain data. It proposes nothing (``proposals`` turns explanations into
exceptions) and never reads files or talks to an engine.

How an explanation is found, per rule: among the identity fields the rule's output exposes (process, parent,
executable, image, namespace, user...), take the single field value that covers the most remaining alerts; if it
covers at least ``min_share`` of the rule's alerts it is a *dominant* value. Narrow it with any other identity field
that has one value on every one of those alerts, so the exception stays as specific as the evidence allows.
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
        best: tuple[int, int, str, str] | None = None  # (count, -preference, field, value)
        for pref, f in enumerate(candidates):
            counts = Counter(_scalar((a.get("output_fields") or {}).get(f)) for a in remaining)
            counts.pop(None, None)
            if not counts:
                continue
            value, count = counts.most_common(1)[0]
            assert value is not None
            key = (count, -pref, f, value)
            if best is None or key[:2] > best[:2]:
                best = key
        if best is None or best[0] / total < min_share:
            break
        _, _, anchor, anchor_value = best
        covered = [a for a in remaining if _scalar((a.get("output_fields") or {}).get(anchor)) == anchor_value]
        names, values = [anchor], [anchor_value]
        for f in candidates:
            if f in names or len(names) >= 3:
                continue
            counts = Counter(_scalar((a.get("output_fields") or {}).get(f)) for a in covered)
            value, count = counts.most_common(1)[0]
            if value is not None and count == len(covered):
                names.append(f)
                values.append(value)
        out.append(Explanation(fields=tuple(names), values=tuple(values), count=len(covered),
                               share=len(covered) / total))
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
