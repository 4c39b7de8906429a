"""``Engine.process_batch`` and ``Engine.run``: the alerts, outputs and counters of ``process`` on each event, with
the counters updated once per batch; a lazy input that fails has the events before it processed first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_runtime import RULES, FakeRuleset, events

from engine.priority import Priority
from engine.rules import load_rules
from engine.runtime import Engine
from engine.sources.k8s_audit.decode import AuditDecodeError, decode_payload, decode_stream
from engine.testing.audit_synth import synth_lines


def _comparable(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if k != "rules_checksum"}


def _upstream(upstream_rules: Path, threshold: str = "debug") -> tuple[Engine, Engine, list[Any], list[Any]]:
    rs = load_rules([upstream_rules / "k8s_audit_rules.yaml"]).ruleset
    one: list[Any] = []
    many: list[Any] = []
    return (Engine(rs, outputs=[one.append], priority_threshold=threshold),
            Engine(rs, outputs=[many.append], priority_threshold=threshold), one, many)


@pytest.mark.parametrize("threshold", ["debug", "warning"])
def test_batches_give_what_process_gives(upstream_rules: Path, threshold: str) -> None:
    single, batched, one, many = _upstream(upstream_rules, threshold)
    lines = synth_lines(3000, seed=21)
    for line in lines:
        for event in decode_payload(line):
            single.process(event)
    returned = []
    for i in range(0, len(lines), 256):
        returned += batched.process_batch(decode_stream(lines[i:i + 256]))
    assert [a.to_dict() for a in many] == [a.to_dict() for a in one] == [a.to_dict() for a in returned]
    assert one and _comparable(batched.stats()) == _comparable(single.stats())


def test_fake_ruleset_with_evaluate_only_and_failures() -> None:
    evs = events(300)
    single = Engine(FakeRuleset(RULES, fail_on="get"), priority_threshold="notice")
    batched = Engine(FakeRuleset(RULES, fail_on="get"), priority_threshold="notice")
    for e in evs:
        single.process(e)
    batched.process_batch(evs[:100])
    batched.process_batch(iter(evs[100:]))
    stats = batched.stats()
    assert _comparable(stats) == _comparable(single.stats())
    assert stats["errors_total"]["k8s_audit"] > 0 and stats["filtered_total"]["k8s_audit"] > 0
    assert batched.process_batch([]) == []


def test_a_failing_input_processes_the_events_before_it_then_raises() -> None:
    got: list[Any] = []
    engine = Engine(FakeRuleset(RULES), outputs=[got.append])
    evs = events(50)

    def broken() -> Iterator[Any]:
        yield from evs[:7]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        engine.process_batch(broken())
    assert len(got) == 7 and engine.stats()["events_total"] == {"k8s_audit": 7}
    lines = [*synth_lines(5, seed=2), b"not json", *synth_lines(5, seed=3)]
    with pytest.raises(AuditDecodeError):
        engine.process_batch(decode_stream(lines))
    assert engine.stats()["events_total"] == {"k8s_audit": 12}


def test_a_broken_output_is_counted_and_the_others_still_get_every_alert() -> None:
    got: list[Any] = []

    def broken(alert: Any) -> None:
        raise RuntimeError("sink down")

    engine = Engine(FakeRuleset(RULES), outputs=[broken, got.append])
    evs = events(40)
    alerts = engine.process_batch(evs)
    assert len(got) == len(alerts) == len(evs)
    assert engine.stats()["output_errors_total"] == len(evs)


class _Batched:
    """An object with ``batches()``, as ``ReplaySource`` has."""

    def __init__(self, evs: list[Any]) -> None:
        self.evs = evs
        self.sizes: list[int] = []

    def batches(self) -> Iterator[list[Any]]:
        for i in range(0, len(self.evs), 30):
            self.sizes.append(len(self.evs[i:i + 30]))
            yield self.evs[i:i + 30]

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("run() must read the batches")


def test_run_reads_lists_in_batches_batch_sources_by_batch_and_live_iterables_event_by_event() -> None:
    evs = events(200)
    counted = []

    class Counting(Engine):
        def process_batch(self, batch: Any) -> Any:
            batch = list(batch)
            counted.append(len(batch))
            return super().process_batch(batch)

    engine = Counting(FakeRuleset(RULES))
    assert engine.run(evs, batch_size=64) == len(evs)
    assert counted == [64, 64, 64, len(evs) - 192]
    source = _Batched(evs)
    counted.clear()
    assert engine.run(source) == len(evs) and counted == source.sizes
    counted.clear()
    seen = []

    def live() -> Iterator[Any]:
        for e in evs[:5]:
            seen.append(engine.stats()["events_total"].get("k8s_audit", 0))
            yield e

    before = engine.stats()["events_total"]["k8s_audit"]
    assert engine.run(live()) == 5 and counted == []
    assert seen == [before + i for i in range(5)]  # each event processed before the next is read
    assert engine.stats()["matches_total"][("Write", Priority.NOTICE.falco_name, "k8s_audit")] > 0


def test_rules_made_anew_per_event_get_their_own_alerts_and_a_bounded_maker_cache(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from engine import runtime

    class FreshRules:
        """An evaluator that returns a new rule object (a new name each time) for every event."""

        def __init__(self) -> None:
            self.n = 0

        def evaluate(self, event: Any) -> list[Any]:
            self.n += 1
            return [dataclasses.replace(RULES[1], name=f"Rule {self.n}", tags=("t",))]

    monkeypatch.setattr(runtime, "_MAKERS_MAX", 50)
    engine = Engine(FreshRules())  # type: ignore[arg-type]
    evs = events(300)
    alerts = engine.process_batch(evs)
    assert [a.rule for a in alerts] == [f"Rule {i}" for i in range(1, len(evs) + 1)]
    assert all(a.tags == ("t",) for a in alerts) and len(engine._makers) <= 50
    assert sum(engine.stats()["matches_total"].values()) == len(evs)
