"""``Ruleset.evaluate_batch``: what ``evaluate`` gives event by event, plus failures, counts and a stopped input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.events.syscall import ProcessInfo, SyscallEvent
from engine.rules import load_rules
from engine.sources.k8s_audit.decode import decode_payload, decode_stream
from engine.testing.audit_synth import synth_lines

RULES = """
- rule: create
  desc: d
  condition: ka.verb = create
  output: c %ka.user.name
  priority: NOTICE
  source: k8s_audit
- rule: writes
  desc: d
  condition: ka.verb in (create, update, patch)
  output: w
  priority: INFO
  source: k8s_audit
- rule: odd verb
  desc: d
  condition: ka.verb = boom and ka.uri.param[x] = y
  output: o
  priority: INFO
  source: k8s_audit
- rule: shell
  desc: d
  condition: evt.type = execve and proc.name = bash
  output: s %proc.name
  priority: WARNING
  source: syscall
"""


def _ruleset(matching: str) -> Any:
    result = load_rules([("r.yaml", RULES)], rule_matching=matching)
    assert result.successful, [e.to_dict() for e in result.errors]
    return result.ruleset


def _mixed() -> list[Any]:
    audit = [e for line in synth_lines(400, seed=9) for e in decode_payload(line)]
    shells = [SyscallEvent(type="execve", proc=ProcessInfo(pid=i, name="bash" if i % 2 else "sh"))
              for i in range(40)]
    out: list[Any] = []
    for i, event in enumerate(audit):  # runs of each source, interleaved
        out.append(event)
        if i % 10 == 0 and shells:
            out.append(shells.pop())
    return out


@pytest.mark.parametrize("matching", ["first", "all"])
def test_batch_equals_evaluate_event_by_event(matching: str) -> None:
    rs = _ruleset(matching)
    events = _mixed()
    result = rs.evaluate_batch(events)
    want = [(e, rs.evaluate(e)) for e in events]
    assert [(id(e), [r.name for r in rules]) for e, rules in result.matched] == \
        [(id(e), [r.name for r in rules]) for e, rules in want if rules]
    assert result.failed == [] and result.stopped is None
    assert result.counts == {"k8s_audit": sum(e.source == "k8s_audit" for e in events),
                             "syscall": sum(e.source == "syscall" for e in events)}
    assert any(len(rules) == 2 for _, rules in result.matched) == (matching == "all")


def test_a_failing_event_is_reported_and_the_batch_goes_on() -> None:
    rs = _ruleset("first")

    class Boom(Exception):
        pass

    class Odd:
        source = "k8s_audit"
        evt_type = None
        ts = 0
        cache = None

        @property
        def obj(self) -> Any:
            raise Boom()

    events = [*decode_payload(b'{"kind":"Event","auditID":"a","verb":"create","stageTimestamp":"2024-01-01T00:00:00Z"}'),
              Odd(), *decode_payload(b'{"kind":"Event","auditID":"b","verb":"update",'
                                     b'"stageTimestamp":"2024-01-01T00:00:00Z"}')]
    result = rs.evaluate_batch(events)
    assert [r.name for _, rules in result.matched for r in rules] == ["create", "writes"]
    assert len(result.failed) == 1 and result.failed[0][0] is events[1] and isinstance(result.failed[0][1], Boom)
    assert result.counts == {"k8s_audit": 3}


def test_an_input_that_raises_stops_the_batch_keeping_what_came_before() -> None:
    rs = _ruleset("first")
    lines = [b'{"kind":"Event","auditID":"a","verb":"create","stageTimestamp":"2024-01-01T00:00:00Z"}',
             b"not json",
             b'{"kind":"Event","auditID":"b","verb":"create","stageTimestamp":"2024-01-01T00:00:00Z"}']
    result = rs.evaluate_batch(decode_stream(lines))
    assert [e.obj["auditID"] for e, _ in result.matched] == ["a"]
    assert result.counts == {"k8s_audit": 1} and "invalid JSON" in str(result.stopped)

    def broken() -> Iterator[Any]:
        yield from decode_payload(lines[0])
        raise OSError("disk gone")

    stopped = rs.evaluate_batch(broken())
    assert isinstance(stopped.stopped, OSError) and len(stopped.matched) == 1
