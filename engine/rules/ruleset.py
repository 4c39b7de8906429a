"""The loaded, compiled ruleset: ``CompiledRule`` and ``Ruleset.evaluate``.

Owns: the frozen rule record the runtime and alerts read, and candidate selection per event -- rules of the
event's source, indexed by event type for syscall events (rules whose event-type set is unrestricted are
candidates for every type), and by a source-specific indexer when one is given (``indexers[source].build(
[(rule, ast), ...]) -> lookup(event)``, e.g. k8s audit by verb/resource; when the lookup has ``pairs(event) ->
[(rule, matcher), ...]``, the matchers run instead of ``rule.match``). Candidates keep definition order;
the first match wins unless ``rule_matching="all"``. Disabled rules are compiled but never evaluated.
``evaluate(event)`` does it for one event, ``evaluate_batch(events)`` for many (same results).

Must not: load or compile rules (``compiler`` does) or format alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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


def _paired(rules: Sequence[CompiledRule]) -> tuple[tuple[CompiledRule, Callable[[Any], bool]], ...]:
    return tuple((rule, rule.match) for rule in rules)


def _with_match(lookup: Callable[[Any], Sequence[CompiledRule]]) -> Callable[[Any], Sequence[Any]]:
    """Pairs for a lookup that gives rules only."""
    return lambda event: _paired(lookup(event))


@dataclass(slots=True)
class BatchResult:
    """What ``Ruleset.evaluate_batch`` found, in event order."""

    matched: list[tuple[Any, list[CompiledRule]]]  # (event, the rules it matched), for events that matched
    failed: list[tuple[Any, Exception]]  # (event, what its evaluation raised)
    counts: dict[str, int]  # source -> events evaluated (failed ones included)
    stopped: Exception | None  # what the events iterable raised, ending the batch early


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
        # Candidates as (rule, matcher) pairs: per event type for syscall events, per source otherwise, and from
        # an indexer's lookup where one is given (its ``pairs`` may offer matchers that skip what the index
        # already checked; otherwise each rule's own ``match``).
        self._source_pairs = {source: _paired(rules) for source, rules in self._by_source.items()}
        self._type_pairs: dict[str, tuple[tuple[CompiledRule, Callable[[Any], bool]], ...]] = {}
        self._untyped_pairs: tuple[tuple[CompiledRule, Callable[[Any], bool]], ...] = ()
        self._build_type_index(self._by_source.get("syscall", ()))
        self._pairs: dict[str, Callable[[Any], Sequence[tuple[CompiledRule, Callable[[Any], bool]]]]] = {}
        for source, indexer in (indexers or {}).items():
            entries = [(r, r.ast) for r in self._by_source.get(source, ())]
            build = indexer.build if hasattr(indexer, "build") else indexer
            lookup = build(entries)
            self._pairs[source] = getattr(lookup, "pairs", None) or _with_match(lookup)

    def _build_type_index(self, rules: Sequence[CompiledRule]) -> None:
        order = {id(r): i for i, r in enumerate(rules)}
        untyped = [r for r in rules if r.evttypes is None]
        by_type: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            for evt in rule.evttypes or ():
                by_type.setdefault(evt, []).append(rule)
        self._untyped_pairs = _paired(untyped)
        for evt, typed in by_type.items():
            self._type_pairs[evt] = _paired(sorted([*typed, *untyped], key=lambda r: order[id(r)]))

    def candidates(self, event: Any) -> Sequence[CompiledRule]:
        """The enabled rules that could match ``event``, in definition order."""
        return tuple(rule for rule, _ in self._candidate_pairs(event))

    def _candidate_pairs(self, event: Any) -> Sequence[tuple[CompiledRule, Callable[[Any], bool]]]:
        """``candidates`` as (rule, matcher) pairs."""
        source = event.source
        pairs = self._pairs.get(source)
        if pairs is not None:
            return pairs(event)
        if source == "syscall":
            typed: Sequence[tuple[CompiledRule, Callable[[Any], bool]]] = self._type_pairs.get(
                event.evt_type, self._untyped_pairs)
            return typed
        return self._source_pairs.get(source, ())

    def evaluate(self, event: Any) -> list[CompiledRule]:
        """Matching rules: the first one (default) or all of them (``rule_matching="all"``)."""
        out: list[CompiledRule] = []
        for rule, match in self._candidate_pairs(event):
            if match(event):
                out.append(rule)
                if self._first:
                    break
        return out

    def evaluate_batch(self, events: Iterable[Any]) -> BatchResult:
        """``evaluate`` over many events (a sequence, or a lazy iterable read once, in order); see ``BatchResult``.

        An event whose evaluation raises is reported in ``failed`` (it has no matches, as when ``evaluate``
        raises); an exception raised by ``events`` itself ends the batch and is kept in ``stopped``.
        """
        result = BatchResult([], [], {}, None)
        matched, failed, counts = result.matched, result.failed, result.counts
        first = self._first
        pair_lookups = self._pairs
        candidate_pairs = self._candidate_pairs
        last: Any = None  # the source of the run of events being counted, and its candidates
        pairs: Any = None
        run = 0
        try:
            for event in events:
                source = event.source
                if source is not last:
                    if run:
                        counts[last] = counts.get(last, 0) + run
                    last, run, pairs = source, 0, pair_lookups.get(source) or candidate_pairs
                run += 1
                try:
                    out: list[CompiledRule] | None = None
                    for rule, match in pairs(event):
                        if match(event):
                            if out is None:
                                out = [rule]
                                if first:
                                    break
                            else:
                                out.append(rule)
                    if out is not None:
                        matched.append((event, out))
                except Exception as exc:  # noqa: BLE001 - reported per event, as ``evaluate`` raising would be
                    failed.append((event, exc))
        except Exception as exc:  # noqa: BLE001 - raised by ``events``: the caller finishes the batch, then raises
            result.stopped = exc
        if run:
            counts[last] = counts.get(last, 0) + run
        return result

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
