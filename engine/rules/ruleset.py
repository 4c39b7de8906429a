"""The loaded, compiled ruleset: ``CompiledRule`` and ``Ruleset.evaluate``.

Owns: the frozen rule record the runtime and alerts read, and candidate selection per event -- rules of the
event's source, indexed by event type for syscall events (rules whose event-type set is unrestricted are
candidates for every type), and by a source-specific indexer when one is given (``indexers[source].build(
[(rule, ast), ...]) -> lookup(event)``, e.g. k8s audit by verb/resource). Candidates keep definition order;
the first match wins unless ``rule_matching="all"``. Disabled rules are compiled but never evaluated.

Must not: load or compile rules (``compiler`` does) or format alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.priority import Priority


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    source: str
    priority: Priority
    enabled: bool
    tags: tuple[str, ...]
    condition: str
    condition_compiled: str
    output: str
    desc: str
    formatter: Any
    match: Callable[[Any], bool] = field(compare=False, repr=False)
    ast: Any = field(default=None, compare=False, repr=False)
    evttypes: frozenset[str] | None = None  # None: not restricted (or not a syscall rule)
    capture: bool = False
    capture_duration: int = 0


class Ruleset:
    """Rules ready to run. Build it once; it is never mutated (the runtime swaps whole rulesets)."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        *,
        checksum: str,
        sources_used: Sequence[str] = (),
        rule_matching: str = "first",
        indexers: Mapping[str, Any] | None = None,
    ) -> None:
        if rule_matching not in ("first", "all"):
            raise ValueError(f"rule_matching must be 'first' or 'all', not {rule_matching!r}")
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.checksum = checksum
        self.sources_used: tuple[str, ...] = tuple(sources_used)
        self.rule_matching = rule_matching
        self._first = rule_matching == "first"
        active: dict[str, list[CompiledRule]] = {}
        for rule in self.rules:
            if rule.enabled:
                active.setdefault(rule.source, []).append(rule)
        self._by_source: dict[str, tuple[CompiledRule, ...]] = {s: tuple(r) for s, r in active.items()}
        self._by_type: dict[str, tuple[CompiledRule, ...]] = {}
        self._untyped: tuple[CompiledRule, ...] = ()
        self._build_type_index(self._by_source.get("syscall", ()))
        self._lookups: dict[str, Callable[[Any], Sequence[CompiledRule]]] = {}
        for source, indexer in (indexers or {}).items():
            entries = [(r, r.ast) for r in self._by_source.get(source, ())]
            build = indexer.build if hasattr(indexer, "build") else indexer
            self._lookups[source] = build(entries)

    def _build_type_index(self, rules: Sequence[CompiledRule]) -> None:
        order = {id(r): i for i, r in enumerate(rules)}
        untyped = [r for r in rules if r.evttypes is None]
        by_type: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            for evt in rule.evttypes or ():
                by_type.setdefault(evt, []).append(rule)
        self._untyped = tuple(untyped)
        for evt, typed in by_type.items():
            merged = sorted([*typed, *untyped], key=lambda r: order[id(r)])
            self._by_type[evt] = tuple(merged)

    def candidates(self, event: Any) -> Sequence[CompiledRule]:
        """The enabled rules that could match ``event``, in definition order."""
        source = event.source
        lookup = self._lookups.get(source)
        if lookup is not None:
            return lookup(event)
        if source == "syscall":
            return self._by_type.get(event.evt_type, self._untyped)
        return self._by_source.get(source, ())

    def evaluate(self, event: Any) -> list[CompiledRule]:
        """Matching rules: the first one (default) or all of them (``rule_matching="all"``)."""
        out: list[CompiledRule] = []
        lookup = self._lookups.get(event.source) if self._lookups else None  # ``candidates``, inlined
        for rule in (lookup(event) if lookup is not None else self.candidates(event)):
            if rule.match(event):
                out.append(rule)
                if self._first:
                    break
        return out

    def evttypes_needed(self, source: str) -> frozenset[str]:
        """Event types the enabled rules of ``source`` can match (what a syscall backend must capture).
        Contains every type when any rule is unrestricted; empty for sources without event types."""
        if source != "syscall":
            return frozenset()
        rules = self._by_source.get(source, ())
        if any(r.evttypes is None for r in rules):
            from engine.fields.evt import EVENT_TYPES

            return frozenset(EVENT_TYPES)
        out: set[str] = set()
        for rule in rules:
            out |= rule.evttypes or set()
        return frozenset(out)

    def __len__(self) -> int:
        return len(self.rules)
