"""The engine loop for one process: events in, alerts out, with counters.

Owns: ``Engine`` — evaluating each event against the current ``Ruleset`` (``Ruleset.evaluate`` does the
per-source/per-type indexing and first-match), applying the priority threshold, building alerts
(``engine.outputs.alert``), handing them to the outputs, counting events/matches per source and rule, and
swapping the ruleset atomically on reload (a reader always sees either the old or the new ruleset, whole).

Must not: read sources, run servers, import prometheus_client (``engine.metrics`` reads ``Engine.stats()``),
or load rules files.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from engine.outputs.alert import Alert, build_alert
from engine.priority import Priority

log = logging.getLogger(__name__)

Output = Callable[[Alert], object]


def _as_callable(output: Any) -> Output:
    """An output is a callable taking an ``Alert``, or an object with ``emit(alert)`` (queues, sinks)."""
    if hasattr(output, "emit"):
        return output.emit  # type: ignore[no-any-return]
    if callable(output):
        return output  # type: ignore[no-any-return]
    raise TypeError(f"output {output!r} is neither callable nor has emit(alert)")


class Engine:
    """Evaluate events against a ruleset and emit Falco-shaped alerts.

    ``outputs``: callables (or objects with ``emit``) receiving every alert; ``metrics``: an optional object with
    ``attach(engine)`` that reads this engine's counters; ``priority_threshold``: rules less severe than this do
    not run (Falco's ``priority`` setting; ``Priority.DEBUG`` runs all).
    """

    def __init__(self, ruleset: Any, *, outputs: Sequence[Any] = (), metrics: Any = None,
                 priority_threshold: Priority | str = Priority.DEBUG, hostname: str | None = None) -> None:
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
        self.swaps_total = 0
        self.output_errors_total = 0
        if metrics is not None and hasattr(metrics, "attach"):
            metrics.attach(self)

    @property
    def ruleset(self) -> Any:
        return self._ruleset

    def swap_ruleset(self, ruleset: Any) -> None:
        """Replace the ruleset; events already being processed finish with the one they started with."""
        if ruleset is None:
            raise ValueError("swap_ruleset needs a loaded ruleset (a failed load must keep the old one)")
        ruleset = self._thresholded(ruleset)  # built before the swap, outside any lock
        self._ruleset = ruleset  # a single reference assignment: atomic under the GIL
        with self._lock:
            self.swaps_total += 1

    def _thresholded(self, ruleset: Any) -> Any:
        """As Falco's ``priority`` setting does, rules less severe than the threshold do not run at all, so
        they cannot win a first match over a more severe rule. A ``Ruleset`` is rebuilt with them disabled
        (other ruleset objects are filtered after evaluation in ``process``)."""
        if self.priority_threshold is Priority.DEBUG:
            return ruleset
        from engine.rules import Ruleset
        from engine.rules.loader import default_indexers

        if type(ruleset) is not Ruleset or all(r.priority <= self.priority_threshold for r in ruleset.rules):
            return ruleset
        rules = [r if r.priority <= self.priority_threshold else replace(r, enabled=False) for r in ruleset.rules]
        return Ruleset(rules, checksum=ruleset.checksum, sources_used=ruleset.sources_used,
                       rule_matching=ruleset.rule_matching, indexers=default_indexers())

    def process(self, event: Any) -> list[Alert]:
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
        alerts = []
        threshold = self.priority_threshold
        filtered = 0
        failed = 0
        for rule in matched:
            if rule.priority > threshold:
                filtered += 1
                continue
            try:
                alerts.append(build_alert(rule, event, hostname=self.hostname))
            except Exception:
                log.exception("formatting the output of rule %r failed", rule.name)
                failed += 1
        with self._lock:
            self.events_total[source] = self.events_total.get(source, 0) + 1
            if filtered:
                self.filtered_total[source] += filtered
            if failed:
                self.errors_total[source] += failed
            for alert in alerts:
                self.matches_total[(alert.rule, alert.priority.falco_name, source)] += 1
        for alert in alerts:
            for output in self._outputs:
                try:
                    output(alert)
                except Exception:  # one broken output must not starve the others or stop the engine
                    log.exception("output %r failed", output)
                    with self._lock:
                        self.output_errors_total += 1
        return alerts

    def run(self, events: Iterable[Any]) -> int:
        """Process every event of an iterable (a replay, a file source); return the number of alerts."""
        count = 0
        process = self.process
        for event in events:
            count += len(process(event))
        return count

    def stats(self) -> dict[str, Any]:
        """A snapshot of the counters (plain data; ``engine.metrics`` exports it)."""
        with self._lock:
            return {
                "events_total": dict(self.events_total),
                "matches_total": dict(self.matches_total),
                "filtered_total": dict(self.filtered_total),
                "errors_total": dict(self.errors_total),
                "ruleset_swaps_total": self.swaps_total,
                "output_errors_total": self.output_errors_total,
                "rules_checksum": getattr(self._ruleset, "checksum", None),
            }
