"""The engine loop for one process: events in, alerts out, with counters.

Owns: ``Engine`` — evaluating each event against the current ``Ruleset`` (``Ruleset.evaluate`` does the
per-source/per-type indexing and first-match), one at a time (``process``) or a batch at a time
(``process_batch``: the counters are updated once per batch), applying the priority threshold, building alerts
(``engine.outputs.alert``), handing them to the outputs, counting events/matches per source and rule, and
swapping the ruleset atomically on reload (a reader always sees either the old or the new ruleset, whole).

Must not: read sources, run servers, import prometheus_client (``engine.metrics`` reads ``Engine.stats()``),
or load rules files.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol, TypedDict

from engine.outputs.alert import Alert, alert_maker
from engine.outputs.append import AppendOutput
from engine.priority import FALCO_NAMES, Priority
from engine.workload import WorkloadCounter, key_of

if TYPE_CHECKING:
    from engine.events.base import Event
    from engine.rules.ruleset import BatchResult, CompiledRule

log = logging.getLogger(__name__)

Output = Callable[[Alert], object]


class Evaluator(Protocol):
    """What the engine runs: a ``Ruleset`` (which also has ``evaluate_batch`` and ``checksum``), or any object
    that evaluates one event."""

    def evaluate(self, event: Event) -> Sequence[CompiledRule]: ...


class Emits(Protocol):
    """An output object (the output queue, a sink) rather than a plain callable."""

    def emit(self, alert: Alert) -> object: ...


class Attaches(Protocol):
    """A metrics object that reads this engine's counters once attached."""

    def attach(self, engine: Engine) -> object: ...


_Maker = tuple["CompiledRule", Callable[["Event"], Alert]]  # (rule, its alert maker)


_MAKERS_MAX = 4096  # rules with a cached alert maker (a ruleset has far fewer)


class _Tally:
    """What building one batch's alerts found, added to the engine's counters at once, under one lock."""

    __slots__ = ("alerts", "errors", "filtered", "matches", "workloads")

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.filtered: dict[str, int] = {}  # source -> matches below the priority threshold
        self.errors: dict[str, int] = {}  # source -> failed evaluations or output formatting
        self.matches: dict[tuple[str, Priority, str], int] = {}  # (rule, priority, source) -> alerts
        self.workloads: dict[tuple[str, str, str, str], int] = {}  # (rule, source, namespace, workload) -> alerts


class EngineStats(TypedDict):
    events_total: dict[str, int]
    matches_total: dict[tuple[str, str, str], int]
    workload_matches_total: dict[tuple[str, str, str, str], int]
    filtered_total: dict[str, int]
    errors_total: dict[str, int]
    ruleset_swaps_total: int
    output_errors_total: int
    rules_checksum: str | None


def _prepared(ruleset: Evaluator) -> Evaluator:
    """The ruleset with its shared evaluation compiled now (at start or in the reload thread), so no event
    waits for it; ruleset objects without ``prepare`` pass through."""
    prepare = getattr(ruleset, "prepare", None)
    if prepare is not None:
        prepare()
    return ruleset


def _evaluate_each(ruleset: Evaluator, events: Iterable[Event]) -> BatchResult:
    """``Ruleset.evaluate_batch`` for a ruleset object that only has ``evaluate``."""
    from engine.rules.ruleset import BatchResult

    result = BatchResult([], [], {}, None)
    try:
        for event in events:
            source = event.source
            result.counts[source] = result.counts.get(source, 0) + 1
            try:
                rules = ruleset.evaluate(event)
            except Exception as exc:  # noqa: BLE001 - counted and logged by the caller, as ``process`` does
                result.failed.append((event, exc))
                continue
            if rules:
                result.matched.append((event, list(rules)))
    except Exception as exc:  # noqa: BLE001 - raised by ``events``: the caller finishes the batch, then raises
        result.stopped = exc
    return result


def _as_callable(output: Output | Emits) -> Output:
    """An output is a callable taking an ``Alert``, or an object with ``emit(alert)`` (queues, sinks)."""
    emit = getattr(output, "emit", None)
    if callable(emit):
        return emit  # type: ignore[no-any-return]
    if callable(output):
        return output
    raise TypeError(f"output {output!r} is neither callable nor has emit(alert)")


class Engine:
    """Evaluate events against a ruleset and emit Falco-shaped alerts.

    ``outputs``: callables (or objects with ``emit``) receiving every alert; ``metrics``: an optional object with
    ``attach(engine)`` that reads this engine's counters; ``priority_threshold``: rules less severe than this do
    not run (Falco's ``priority`` setting; ``Priority.DEBUG`` runs all).
    """

    def __init__(self, ruleset: Evaluator, *, outputs: Sequence[Output | Emits] = (),
                 metrics: Attaches | None = None, priority_threshold: Priority | str = Priority.DEBUG,
                 hostname: str | None = None, append_output: Sequence[Mapping[str, object]] = ()) -> None:
        self._append = AppendOutput(append_output) if append_output else None
        self._outputs = tuple(_as_callable(o) for o in outputs)
        self.priority_threshold = (priority_threshold if isinstance(priority_threshold, Priority)
                                   else Priority.parse(priority_threshold))
        self._ruleset = self._thresholded(ruleset)
        self.hostname = hostname
        self._lock = threading.Lock()  # guards the counters against concurrent process() calls
        self.events_total: dict[str, int] = {}  # source -> events processed
        self.matches_total: Counter[tuple[str, str, str]] = Counter()  # (rule, priority, source) -> alerts
        self.filtered_total: Counter[str] = Counter()  # source -> matches below the priority threshold
        self.errors_total: Counter[str] = Counter()  # source -> failed evaluations or output formatting
        self.workload_matches = WorkloadCounter()  # (rule, source, namespace, workload) -> alerts, bounded
        # id(rule) -> (rule, its alert maker): made on a rule's first alert, dropped on a swap
        # (the rule is kept in the entry, so its id cannot be reused while the entry lives)
        self._makers: dict[int, _Maker] = {}
        self.swaps_total = 0
        self.output_errors_total = 0
        if metrics is not None:
            metrics.attach(self)

    @property
    def ruleset(self) -> Evaluator:
        return self._ruleset

    def swap_ruleset(self, ruleset: Evaluator | None) -> None:
        """Replace the ruleset; events already being processed finish with the one they started with."""
        if ruleset is None:
            raise ValueError("swap_ruleset needs a loaded ruleset (a failed load must keep the old one)")
        ruleset = self._thresholded(ruleset)  # built before the swap, outside any lock
        self._ruleset = ruleset  # a single reference assignment: atomic under the GIL
        self._makers = {}
        if self._append is not None:
            self._append.reset()
        with self._lock:
            self.swaps_total += 1

    def _thresholded(self, ruleset: Evaluator) -> Evaluator:
        """As Falco's ``priority`` setting does, rules less severe than the threshold do not run at all, so
        they cannot win a first match over a more severe rule. A ``Ruleset`` is rebuilt with them disabled
        (other ruleset objects are filtered after evaluation in ``process``)."""
        if self.priority_threshold is Priority.DEBUG:
            return ruleset
        from engine.rules import Ruleset
        from engine.rules.loader import default_indexers

        if not isinstance(ruleset, Ruleset) or type(ruleset) is not Ruleset or all(r.priority <= self.priority_threshold for r in ruleset.rules):
            return _prepared(ruleset)
        rules = [r if r.priority <= self.priority_threshold else replace(r, enabled=False) for r in ruleset.rules]
        return _prepared(Ruleset(rules, checksum=ruleset.checksum, sources_used=ruleset.sources_used,
                                 rule_matching=ruleset.rule_matching, indexers=default_indexers(),
                                 share_work=ruleset.share_work))

    def process(self, event: Event) -> list[Alert]:
        """Evaluate one event; emit and return its alerts (usually none, one with first-match)."""
        ruleset = self._ruleset  # read once: a concurrent swap cannot mix two rulesets in one event
        source = event.source
        try:
            matched = ruleset.evaluate(event)
        except Exception:
            log.exception("rule evaluation failed for a %s event", source)
            with self._lock:
                self.events_total[source] = self.events_total.get(source, 0) + 1
                self.errors_total[source] += 1
            return []
        if not matched:  # the common case: keep it to one locked increment
            events_total = self.events_total
            with self._lock:
                events_total[source] = events_total.get(source, 0) + 1
            return []
        tally = _Tally()
        self._build(event, matched, tally)
        with self._lock:
            self.events_total[source] = self.events_total.get(source, 0) + 1
            self._count(tally)
        self._emit(tally.alerts)
        return tally.alerts

    def process_batch(self, events: Iterable[Event]) -> list[Alert]:
        """Evaluate a batch of events in order; emit and return their alerts.

        The same alerts, outputs and counters as ``process`` on each event in turn, with the counters updated
        once per batch and the whole batch evaluated against one ruleset (a swap applies from the next batch).
        ``events`` may be a lazy iterable (``decode_stream``: each event is evaluated while its JSON is fresh);
        if it raises, the events before are processed and counted, their alerts emitted, then the error
        propagates.
        """
        ruleset = self._ruleset
        evaluate_batch = getattr(ruleset, "evaluate_batch", None)
        result: BatchResult = (evaluate_batch(events) if evaluate_batch is not None
                               else _evaluate_each(ruleset, events))
        tally = _Tally()
        for event, exc in result.failed:
            log.error("rule evaluation failed for a %s event", event.source, exc_info=exc)
            tally.errors[event.source] = tally.errors.get(event.source, 0) + 1
        build = self._build
        for event, rules in result.matched:
            build(event, rules, tally)
        with self._lock:
            events_total = self.events_total
            for source, n in result.counts.items():
                events_total[source] = events_total.get(source, 0) + n
            self._count(tally)
        self._emit(tally.alerts)
        if result.stopped is not None:
            raise result.stopped
        return tally.alerts

    def _maker(self, rule: CompiledRule) -> _Maker:
        """The alert maker of ``rule``, made on its first alert."""
        make = alert_maker(rule, hostname=self.hostname)
        if len(self._makers) >= _MAKERS_MAX:  # an evaluator that makes new rule objects: keep the cache bounded
            self._makers = {}
        entry = self._makers[id(rule)] = (rule, make)
        return entry

    def _build(self, event: Event, matched: Iterable[CompiledRule], tally: _Tally) -> None:
        """The alerts of ``matched`` rules for ``event``, into ``tally`` with their counts (filtered by the
        priority threshold, failed to format, matches, workloads)."""
        threshold = self.priority_threshold
        source = event.source
        makers = self._makers
        for rule in matched:
            if rule.priority > threshold:
                tally.filtered[source] = tally.filtered.get(source, 0) + 1
                continue
            entry = makers.get(id(rule))
            if entry is None or entry[0] is not rule:
                entry = self._maker(rule)
            try:
                alert = entry[1](event)
                if self._append is not None:
                    alert = self._append.apply(rule, event, alert)
            except Exception:
                log.exception("formatting the output of rule %r failed", rule.name)
                tally.errors[source] = tally.errors.get(source, 0) + 1
                continue
            tally.alerts.append(alert)
            key = (rule.name, alert.priority, alert.source)
            matches = tally.matches
            matches[key] = matches.get(key, 0) + 1
            key4 = key_of(rule.name, source, event)
            workloads = tally.workloads
            workloads[key4] = workloads.get(key4, 0) + 1

    def _count(self, tally: _Tally) -> None:
        """Add a tally's counts to the engine's; the caller holds the lock."""
        if tally.filtered:
            self.filtered_total.update(tally.filtered)
        if tally.errors:
            self.errors_total.update(tally.errors)
        if tally.matches:
            matches = self.matches_total
            for (rule, priority, source), n in tally.matches.items():
                matches[(rule, FALCO_NAMES.get(priority) or priority.falco_name, source)] += n
        if tally.workloads:
            self.workload_matches.add_counts(tally.workloads)

    def _emit(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            for output in self._outputs:
                try:
                    output(alert)
                except Exception:  # one broken output must not starve the others or stop the engine
                    log.exception("output %r failed", output)
                    with self._lock:
                        self.output_errors_total += 1

    def run(self, events: Iterable[Event], *, batch_size: int = 512) -> int:
        """Process every event of an iterable (a replay, a file source); return the number of alerts.

        A list (any sequence) is processed ``batch_size`` events at a time, an object with ``batches()`` (an
        iterator of event lists, as ``ReplaySource`` has) a batch at a time, any other iterable event by event
        (it may be live: an event is never held back waiting for more).
        """
        batches = getattr(events, "batches", None)
        if callable(batches):
            return self.run_batches(batches())
        if isinstance(events, Sequence):
            return self.run_batches(events[i:i + batch_size] for i in range(0, len(events), batch_size))
        count = 0
        process = self.process
        for event in events:
            count += len(process(event))
        return count

    def run_batches(self, batches: Iterable[Iterable[Event]]) -> int:
        """Process every batch of an iterable of event batches; return the number of alerts."""
        count = 0
        process_batch = self.process_batch
        for batch in batches:
            count += len(process_batch(batch))
        return count

    def stats(self) -> EngineStats:
        """A snapshot of the counters (plain data; ``engine.metrics`` exports it)."""
        with self._lock:
            return {
                "events_total": dict(self.events_total),
                "matches_total": dict(self.matches_total),
                "workload_matches_total": self.workload_matches.snapshot(),
                "filtered_total": dict(self.filtered_total),
                "errors_total": dict(self.errors_total),
                "ruleset_swaps_total": self.swaps_total,
                "output_errors_total": self.output_errors_total,
                "rules_checksum": getattr(self._ruleset, "checksum", None),
            }
