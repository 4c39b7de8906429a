"""Rule noise: rank rules by alerts per hour and explain each noisy rule by who or what raises it.

Owns: the explanation algorithm. Input is Falco JSON alerts (dicts with ``rule``, ``source``, ``priority`` and
typed ``output_fields``; a local run replays the window's events and adds every identity field to them); output is
plain data. It proposes nothing (``proposals`` turns explanations into exceptions) and never reads files or talks
to an engine.

How an explanation is found, per rule: the candidate fields are the identity dimensions of the rule's source
(``identity``: user or service account, namespace, image repository, executable, parent...) minus every field the
rule's compiled condition pins (``pinned``). Among the *anchor* fields (principals, not scopes), find the value
covering the most remaining alerts; one covering at least ``min_share`` of the rule's alerts is *dominant*. Narrow
each near-best anchor with every other candidate field that holds one value on all of its alerts, keep the most
specific result ("this service account in this namespace with this image"), remove the covered alerts and repeat,
up to ``max_explanations``. Noise spread thinly over many values, or explained only by a scope such as a
namespace, yields no explanation, and so no blanket exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from falcoctl_py.tuning.identity import ALL_ANCHORS, LIST_SEP, identity_fields

# Fallback candidates when an alert names no source we know: every identity field, anchors first.
IDENTITY_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(identity_fields("k8s_audit") + identity_fields("syscall")))
MAX_FIELDS = 6  # fields in one exception
NEAR_BEST = 0.9  # anchors covering at least this share of the best anchor's alerts compete on specificity


@dataclass(frozen=True, slots=True)
class Explanation:
    fields: tuple[str, ...]
    values: tuple[str, ...]
    count: int
    share: float  # of the rule's alerts
    varying: tuple[str, ...] = ()  # candidate fields with several values on the covered alerts


@dataclass(frozen=True, slots=True)
class RuleNoise:
    rule: str
    source: str
    priority: str
    count: int
    per_hour: float
    explanations: tuple[Explanation, ...]
    top_identities: tuple[tuple[str, str, int], ...] = field(default=())  # (field, value, alerts), most first
    pinned: tuple[str, ...] = ()

    @property
    def explained_share(self) -> float:
        return sum(e.share for e in self.explanations)


def _scalar(value: Any) -> str | None:
    """A value usable in an exception: a non-empty string or number, or a list of them (as one sorted, joined
    value); dicts and missing values are not."""
    if isinstance(value, (list, tuple)):
        items = sorted({str(v) for v in value if v is not None and not isinstance(v, (list, tuple, dict))})
        return LIST_SEP.join(items) if items and all(items) else None
    if value is None or isinstance(value, dict):
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


def _value(alert: Mapping[str, Any], f: str) -> str | None:
    return _scalar((alert.get("output_fields") or {}).get(f))


def _narrow(covered: Sequence[Mapping[str, Any]], anchor: str, value: str,
            candidates: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """The anchor plus every other candidate holding one value on all ``covered`` alerts (at most MAX_FIELDS),
    and the candidates that vary over them."""
    names, values, varying = [anchor], [value], []
    for f in candidates:
        if f in names:
            continue
        counts = Counter(_value(a, f) for a in covered)
        top, count = counts.most_common(1)[0]
        if top is not None and count == len(covered):
            if len(names) < MAX_FIELDS:
                names.append(f)
                values.append(top)
        elif len(counts) > 1:
            varying.append(f)
    return names, values, varying


def explain(alerts: Sequence[Mapping[str, Any]], *, fields: Sequence[str] = IDENTITY_FIELDS,
            anchors: Iterable[str] = ALL_ANCHORS, pinned: Iterable[str] = (), min_share: float = 0.2,
            max_explanations: int = 3) -> tuple[Explanation, ...]:
    """Dominant identities of one rule's alerts, most covering first (see the module docstring)."""
    total = len(alerts)
    if total == 0:
        return ()
    pins = set(pinned)
    candidates = [f for f in _identity_fields(alerts, fields) if f not in pins]
    anchor_set = set(anchors)
    remaining = list(alerts)
    out: list[Explanation] = []
    while remaining and len(out) < max_explanations:
        tops: list[tuple[int, int, str, str]] = []  # (count, preference, field, value)
        for pref, f in enumerate(candidates):
            if f not in anchor_set:
                continue  # a scope (namespace) or a secondary field narrows an explanation, never anchors one
            counts = Counter(_value(a, f) for a in remaining)
            counts.pop(None, None)
            if counts:
                value, count = counts.most_common(1)[0]
                assert value is not None
                tops.append((count, pref, f, value))
        best = max((t[0] for t in tops), default=0)
        if best / total < min_share:
            break
        # Among anchors covering nearly as much as the best one, take the one whose narrowed explanation is the
        # most specific: "this user in this namespace" beats "this user anywhere".
        choices = []
        for count, pref, f, value in tops:
            if count >= NEAR_BEST * best:
                covered = [a for a in remaining if _value(a, f) == value]
                names, values, varying = _narrow(covered, f, value, candidates)
                choices.append((len(names), count, -pref, names, values, varying))
        _, count, _, names, values, varying = max(choices, key=lambda c: c[:3])
        out.append(Explanation(fields=tuple(names), values=tuple(values), count=count, share=count / total,
                               varying=tuple(varying)))
        remaining = [a for a in remaining if not _matches(a, names, values)]
    return tuple(out)


def _matches(alert: Mapping[str, Any], names: Sequence[str], values: Sequence[str]) -> bool:
    return all(_value(alert, n) == v for n, v in zip(names, values))


def top_identities(alerts: Sequence[Mapping[str, Any]], fields: Sequence[str], *,
                   limit: int = 5) -> tuple[tuple[str, str, int], ...]:
    """The most frequent (field, value) pairs over the identity fields: who makes the noise."""
    counts: Counter[tuple[str, str]] = Counter()
    for a in alerts:
        for f in fields:
            v = _value(a, f)
            if v is not None:
                counts[(f, v)] += 1
    return tuple((f, v, n) for (f, v), n in counts.most_common(limit))


def candidate_fields(source: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Identity fields of ``source`` (all of them for an unknown source), then ``extra`` (a rule's declared
    exception fields)."""
    base = identity_fields(source) or IDENTITY_FIELDS
    return tuple(dict.fromkeys((*base, *extra)))


def rank_rules(alerts: Iterable[Mapping[str, Any]], *, window_seconds: float, min_share: float = 0.2,
               pins: Mapping[str, Iterable[str]] | None = None,
               extra_fields: Mapping[str, Sequence[str]] | None = None) -> list[RuleNoise]:
    """Rules by alerts per hour over the window (noisiest first), each with its explanations. ``pins``: rule ->
    fields its condition pins (never used to explain); ``extra_fields``: rule -> more candidate fields."""
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for a in alerts:
        by_rule.setdefault(str(a.get("rule", "")), []).append(a)
    hours = max(window_seconds, 1e-9) / 3600.0
    out = []
    for rule, items in by_rule.items():
        source = str(items[0].get("source", ""))
        pinned = tuple(sorted((pins or {}).get(rule, ())))
        fields = candidate_fields(source, (extra_fields or {}).get(rule, ()))
        out.append(RuleNoise(
            rule=rule, source=source, priority=str(items[0].get("priority", "")), count=len(items),
            per_hour=len(items) / hours,
            explanations=explain(items, fields=fields, pinned=pinned, min_share=min_share),
            top_identities=top_identities(items, [f for f in fields if f not in pinned]), pinned=pinned))
    out.sort(key=lambda r: (-r.count, r.rule))
    return out
