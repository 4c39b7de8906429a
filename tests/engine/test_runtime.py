"""Engine: evaluation through the ruleset, threshold, counters, outputs, atomic swap (with a small fake ruleset)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.priority import Priority
from engine.runtime import Engine
from engine.sources.k8s_audit.decode import decode_payload
from engine.testing.audit_synth import synth_lines


@dataclass(frozen=True)
class Fmt:
    def format(self, event: Any) -> tuple[str, dict[str, Any]]:
        return f"verb={event.verb}", {"ka.verb": event.verb}


@dataclass(frozen=True)
class Rule:
    name: str
    priority: Priority
    verbs: frozenset[str]
    tags: tuple[str, ...] = ()
    formatter: Fmt = field(default_factory=Fmt)


@dataclass
class FakeRuleset:
    """First-match over rules whose 'condition' is a verb set; ``checksum`` like the real Ruleset."""

    rules: list[Rule]
    checksum: str = "c1"
    fail_on: str | None = None

    def evaluate(self, event: Any) -> list[Rule]:
        if event.verb == self.fail_on:
            raise RuntimeError("boom")
        return [r for r in self.rules if event.verb in r.verbs][:1]


def events(n: int = 400, seed: int = 11) -> list[Any]:
    return [e for line in synth_lines(n, seed=seed) for e in decode_payload(line)]


RULES = [Rule("Write", Priority.NOTICE, frozenset({"create", "update", "patch", "delete"})),
         Rule("Read", Priority.DEBUG, frozenset({"get", "list", "watch"}))]


def test_process_emits_alerts_to_outputs_and_counts() -> None:
    got: list[Any] = []

    class Queue:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def emit(self, alert: Any) -> None:
            self.items.append(alert)

    q = Queue()
    engine = Engine(FakeRuleset(RULES), outputs=[got.append, q])
    evs = events()
    total = engine.run(evs)
    assert total == len(evs) == len(got) == len(q.items)
    writes = sum(1 for e in evs if e.verb in RULES[0].verbs)
    stats = engine.stats()
    assert stats["events_total"] == {"k8s_audit": len(evs)}
    assert stats["matches_total"][("Write", "Notice", "k8s_audit")] == writes
    assert stats["matches_total"][("Read", "Debug", "k8s_audit")] == len(evs) - writes
    assert stats["rules_checksum"] == "c1"
    assert got[0].ts == evs[0].ts


def test_priority_threshold_drops_less_severe_alerts() -> None:
    engine = Engine(FakeRuleset(RULES), priority_threshold="notice")
    evs = events()
    alerts = [a for e in evs for a in engine.process(e)]
    assert alerts and {a.rule for a in alerts} == {"Write"}
    assert engine.stats()["filtered_total"]["k8s_audit"] == len(evs) - len(alerts)


def test_a_failing_evaluation_is_counted_not_raised() -> None:
    engine = Engine(FakeRuleset(RULES, fail_on="get"))
    evs = events()
    engine.run(evs)
    gets = sum(1 for e in evs if e.verb == "get")
    assert gets and engine.stats()["errors_total"]["k8s_audit"] == gets


def test_swap_is_atomic_per_event_under_concurrency() -> None:
    a = FakeRuleset([Rule("A", Priority.INFORMATIONAL, frozenset({"get", "list", "watch", "create", "update",
                                                                  "patch", "delete"}))], checksum="a")
    b = FakeRuleset([Rule("B", Priority.INFORMATIONAL, a.rules[0].verbs)], checksum="b")
    engine = Engine(a)
    evs = events(300)
    seen: list[str] = []
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            engine.swap_ruleset(b)
            engine.swap_ruleset(a)

    t = threading.Thread(target=swapper)
    t.start()
    try:
        for _ in range(5):
            for e in evs:
                alerts = engine.process(e)
                assert len(alerts) == 1  # never zero or two: one whole ruleset per event
                seen.append(alerts[0].rule)
    finally:
        stop.set()
        t.join()
    assert engine.stats()["ruleset_swaps_total"] > 0
    with pytest.raises(ValueError, match="failed load"):
        engine.swap_ruleset(None)


def test_metrics_object_is_attached() -> None:
    attached: list[Engine] = []

    class Metrics:
        def attach(self, engine: Engine) -> None:
            attached.append(engine)

    engine = Engine(FakeRuleset(RULES), metrics=Metrics())
    assert attached == [engine]
    with pytest.raises(TypeError, match="neither callable"):
        Engine(FakeRuleset(RULES), outputs=[42])


RULES_YAML = """
- rule: Any Create (debug)
  desc: every create
  condition: ka.verb = create
  output: create by %ka.user.name
  priority: DEBUG
  source: k8s_audit
- rule: Pod Create (warning)
  desc: pod creates
  condition: ka.verb = create and ka.target.resource = pods
  output: pod create by %ka.user.name
  priority: WARNING
  source: k8s_audit
"""


def test_threshold_keeps_less_severe_rules_from_winning_the_first_match() -> None:
    """Falco's ``priority``: rules below it do not run, so a later, more severe rule matches instead."""
    from engine.rules import load_rules

    ruleset = load_rules([("threshold.yaml", RULES_YAML)]).ruleset
    assert ruleset is not None
    pod = decode_payload(b'{"kind":"Event","auditID":"a","verb":"create","objectRef":{"resource":"pods"},'
                         b'"user":{"username":"bob"},"stageTimestamp":"2024-01-01T00:00:00Z"}')[0]
    assert [a.rule for a in Engine(ruleset).process(pod)] == ["Any Create (debug)"]
    engine = Engine(ruleset, priority_threshold="warning")
    assert [a.rule for a in engine.process(pod)] == ["Pod Create (warning)"]
    engine.swap_ruleset(ruleset)  # a reloaded ruleset gets the same treatment
    assert [a.rule for a in engine.process(pod)] == ["Pod Create (warning)"]
    assert [r.name for r in engine.ruleset.rules if r.enabled] == ["Pod Create (warning)"]


def test_a_broken_output_or_formatter_does_not_stop_the_others() -> None:
    got: list[Any] = []

    def broken(alert: Any) -> None:
        raise OSError("disk full")

    engine = Engine(FakeRuleset(RULES), outputs=[broken, got.append])
    evs = events(50)
    engine.run(evs)
    assert len(got) == len(evs)
    assert engine.stats()["output_errors_total"] == len(evs)

    class BadFmt:
        def format(self, event: Any) -> tuple[str, dict[str, Any]]:
            raise KeyError("field")

    bad = FakeRuleset([Rule("Bad", Priority.ERROR, frozenset({"get", "list", "watch", "create", "update", "patch",
                                                              "delete"}), formatter=BadFmt())])  # type: ignore[arg-type]
    engine = Engine(bad)
    assert engine.run(evs) == 0
    assert engine.stats()["errors_total"]["k8s_audit"] == len(evs)
