"""The loaded, compiled ruleset: ``CompiledRule`` and ``Ruleset.evaluate``.

Owns: the frozen rule record the runtime and alerts read, and candidate selection per event -- rules of the
event's source, indexed by event type for syscall events (rules whose event-type set is unrestricted are
candidates for every type), and by a source-specific indexer when one is given (``indexers[source].build(
[(rule, ast), ...]) -> lookup(event)``, e.g. k8s audit by verb/resource; when the lookup has ``pairs(event) ->
[(rule, matcher), ...]``, the matchers run instead of ``rule.match``). Candidates keep definition order;
the first match wins unless ``rule_matching="all"``. Disabled rules are compiled but never evaluated.
``evaluate(event)`` does it for one event, ``evaluate_batch(events)`` for many (same results).

Syscall events (when no indexer owns the source) are evaluated by one generated function per event type that
holds all its candidates (``engine.condition.groupgen``: a macro or field several rules read is evaluated once
per event), compiled on the first event of that type or by ``prepare()``. ``share_work=False`` keeps the
per-rule path (each candidate's own ``match``), which is also the reference: an event whose shared evaluation
raises is evaluated again that way, so it fails, or matches, exactly as it would there.

Must not: load or compile rules (``compiler`` does) or format alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from engine.condition.groupgen import compile_group
from engine.priority import Priority

if TYPE_CHECKING:
    from engine.condition.ast import Node
    from engine.events.base import Event
    from engine.outputs.formatter import OutputFormatter

Matcher = Callable[["Event"], bool]
Pairs = Sequence[tuple["CompiledRule", Matcher]]


@runtime_checkable
class Indexer(Protocol):
    """A source-specific candidate index (``engine.rules.k8s_audit_index``): built once per ruleset from the
    source's ``(rule, condition)`` entries, in definition order; the lookup may also have ``pairs(event)``."""

    def build(self, entries: Sequence[tuple[CompiledRule, Node | None]]) -> Callable[[Event], Sequence[CompiledRule]]:
        ...


IndexBuild = Callable[[Sequence[tuple["CompiledRule", "Node | None"]]], Callable[["Event"], Sequence["CompiledRule"]]]
"""An indexer given as its ``build`` function alone."""


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
    formatter: OutputFormatter
    match: Matcher = field(compare=False, repr=False)
    ast: Node | None = field(default=None, compare=False, repr=False)
    evttypes: frozenset[str] | None = None  # None: not restricted (or not a syscall rule)
    capture: bool = False
    capture_duration: int = 0


def _paired(rules: Sequence[CompiledRule]) -> tuple[tuple[CompiledRule, Matcher], ...]:
    return tuple((rule, rule.match) for rule in rules)


def _with_match(lookup: Callable[[Event], Sequence[CompiledRule]]) -> Callable[[Event], Pairs]:
    """Pairs for a lookup that gives rules only."""
    return lambda event: _paired(lookup(event))


@dataclass(slots=True)
class BatchResult:
    """What ``Ruleset.evaluate_batch`` found, in event order."""

    matched: list[tuple[Event, list[CompiledRule]]]  # (event, the rules it matched), for events that matched
    failed: list[tuple[Event, Exception]]  # (event, what its evaluation raised)
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
        indexers: Mapping[str, Indexer | IndexBuild] | None = None,
        share_work: bool = True,
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
        self._type_pairs: dict[str, tuple[tuple[CompiledRule, Matcher], ...]] = {}
        self._untyped_pairs: tuple[tuple[CompiledRule, Matcher], ...] = ()
        self._build_type_index(self._by_source.get("syscall", ()))
        self._pairs: dict[str, Callable[[Event], Pairs]] = {}
        for source, indexer in (indexers or {}).items():
            entries = [(r, r.ast) for r in self._by_source.get(source, ())]
            build = indexer.build if isinstance(indexer, Indexer) else indexer
            lookup = build(entries)
            self._pairs[source] = getattr(lookup, "pairs", None) or _with_match(lookup)
        # Shared evaluation of syscall events: event type -> function (a stub compiles it on first use).
        self.share_work = share_work and "syscall" not in self._pairs
        self._shared: dict[str, Callable[[Event], list[CompiledRule]]] = {
            evt: self._stub(evt, pairs) for evt, pairs in self._type_pairs.items()
        }
        self._shared_untyped: Callable[[Event], list[CompiledRule]] = self._stub(None, self._untyped_pairs)

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

    def _stub(
        self, evt_type: str | None, pairs: Pairs
    ) -> Callable[[Event], list[CompiledRule]]:
        """Compiles the group of ``evt_type`` (None: the untyped rules, for types no rule names) when first
        called, installs it in place of itself and evaluates the event with it."""

        def first_call(event: Event) -> list[CompiledRule]:
            fn = self._compile_group(evt_type, pairs)
            if evt_type is None:
                self._shared_untyped = fn
            else:
                self._shared[evt_type] = fn
            return fn(event)

        return first_call

    def _compile_group(
        self, evt_type: str | None, pairs: Pairs
    ) -> Callable[[Event], list[CompiledRule]]:
        rules = [rule for rule, _ in pairs]
        if not rules:
            return lambda event: []
        nodes = [rule.ast for rule in rules if rule.ast is not None]
        if len(nodes) < len(rules):  # hand-built rules without a condition tree
            return self._evaluate_pairs
        return compile_group(nodes, "syscall", results=rules, first=self._first, evt_type=evt_type)

    def prepare(self) -> None:
        """Compile every event type's shared evaluation now (a loader thread can, so events never wait)."""
        if not self.share_work:
            return
        for evt, pairs in self._type_pairs.items():
            self._shared[evt] = self._compile_group(evt, pairs)
        self._shared_untyped = self._compile_group(None, self._untyped_pairs)

    def _evaluate_shared(self, event: Event) -> list[CompiledRule]:
        """A syscall event through its type's shared function; if that raises, through the per-rule path."""
        try:
            shared = self._shared.get(event.evt_type) if event.evt_type is not None else None
            return (shared or self._shared_untyped)(event)
        except Exception:  # noqa: BLE001 - the per-rule path decides what this event's failure is
            return self._evaluate_pairs(event)

    def candidates(self, event: Event) -> Sequence[CompiledRule]:
        """The enabled rules that could match ``event``, in definition order."""
        return tuple(rule for rule, _ in self._candidate_pairs(event))

    def _candidate_pairs(self, event: Event) -> Pairs:
        """``candidates`` as (rule, matcher) pairs."""
        source = event.source
        pairs = self._pairs.get(source)
        if pairs is not None:
            return pairs(event)
        if source == "syscall":
            evt = event.evt_type
            return self._type_pairs.get(evt, self._untyped_pairs) if evt is not None else self._untyped_pairs
        return self._source_pairs.get(source, ())

    def evaluate(self, event: Event) -> list[CompiledRule]:
        """Matching rules: the first one (default) or all of them (``rule_matching="all"``)."""
        if self.share_work and event.source == "syscall":
            return self._evaluate_shared(event)
        return self._evaluate_pairs(event)

    def _evaluate_pairs(self, event: Event) -> list[CompiledRule]:
        """``evaluate`` rule by rule: each candidate's own matcher, in order."""
        out: list[CompiledRule] = []
        for rule, match in self._candidate_pairs(event):
            if match(event):
                out.append(rule)
                if self._first:
                    break
        return out

    def evaluate_batch(self, events: Iterable[Event]) -> BatchResult:
        """``evaluate`` over many events (a sequence, or a lazy iterable read once, in order); see ``BatchResult``.

        An event whose evaluation raises is reported in ``failed`` (it has no matches, as when ``evaluate``
        raises); an exception raised by ``events`` itself ends the batch and is kept in ``stopped``.
        """
        result = BatchResult([], [], {}, None)
        matched, failed, counts = result.matched, result.failed, result.counts
        first = self._first
        pair_lookups = self._pairs
        candidate_pairs = self._candidate_pairs
        shared = self._evaluate_shared if self.share_work else None
        last = ""  # the source of the run of events being counted (none yet), and its candidates
        pairs: Callable[[Event], Pairs] = candidate_pairs
        run_shared: Callable[[Event], list[CompiledRule]] | None = None  # for a run of syscall events
        run = 0
        try:
            for event in events:
                source = event.source
                if source is not last:
                    if run:
                        counts[last] = counts.get(last, 0) + run
                    last, run, pairs = source, 0, pair_lookups.get(source) or candidate_pairs
                    run_shared = shared if source == "syscall" else None
                run += 1
                try:
                    if run_shared is not None:
                        found = run_shared(event)
                        if found:
                            matched.append((event, found))
                        continue
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
