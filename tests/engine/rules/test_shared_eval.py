"""Shared evaluation of syscall candidates (one generated function per event type) against the per-rule path
(``share_work=False``): the same matches on upstream rules with seeded events, in both matching modes, one
event at a time and in batches, and the same failures when reading a field raises."""

from __future__ import annotations

import random
from typing import Any

import pytest
from helpers import load
from shared_material import require_shared
from syscall_events import literals, synth_event

from engine.events.syscall import FdInfo, ProcessInfo, SyscallEvent
from engine.rules import Ruleset, load_rules

FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")


def _pair(result: Any) -> tuple[Ruleset, Ruleset]:
    shared = result.ruleset
    assert shared is not None and shared.share_work
    per_rule = Ruleset(shared.rules, checksum=shared.checksum, sources_used=shared.sources_used,
                       rule_matching=shared.rule_matching, share_work=False)
    return shared, per_rule


@pytest.fixture(scope="module", params=["first", "all"])
def upstream(request: pytest.FixtureRequest) -> tuple[Ruleset, Ruleset]:
    rules = require_shared("upstream", "rules")
    return _pair(load_rules([rules / name for name in FILES], rule_matching=request.param))


def _events(ruleset: Ruleset, seed: int, count: int) -> list[SyscallEvent]:
    rng = random.Random(seed)
    lits = literals(r.ast for r in ruleset.rules)
    types = sorted(ruleset.evttypes_needed("syscall")) + ["openat"] * 20 + ["execve"] * 20 + ["not_a_type"]
    return [synth_event(rng, lits, rng.choice(types), i + 1) for i in range(count)]


def _names(rules: list[Any]) -> list[str]:
    return [r.name for r in rules]


@pytest.mark.parametrize("seed", range(3))
def test_upstream_rules_match_the_same_either_way(upstream: tuple[Ruleset, Ruleset], seed: int) -> None:
    shared, per_rule = upstream
    events = _events(shared, seed, 1500)
    matched = 0
    for event in events:
        want = _names(per_rule.evaluate(event))
        assert _names(shared.evaluate(event)) == want, (event.type, event.fd, event.proc)
        matched += bool(want)
    assert matched > 50  # the events reach the rules' interesting branches, not only their misses
    got, want = shared.evaluate_batch(events), per_rule.evaluate_batch(events)
    assert [(e.num, _names(r)) for e, r in got.matched] == [(e.num, _names(r)) for e, r in want.matched]
    assert got.counts == want.counts and not got.failed and not want.failed


def test_prepared_ruleset_matches_the_lazily_compiled_one(upstream: tuple[Ruleset, Ruleset]) -> None:
    shared, per_rule = upstream
    fresh = Ruleset(shared.rules, checksum="x", rule_matching=shared.rule_matching)
    fresh.prepare()
    for event in _events(shared, 7, 300):
        assert _names(fresh.evaluate(event)) == _names(per_rule.evaluate(event))


RULES = """
- rule: cat reads x
  desc: d
  condition: evt.type = open and proc.name = cat and fd.name = /x
  output: o
  priority: WARNING
- rule: sh opens
  desc: d
  condition: evt.type = open and proc.name = sh and fd.name startswith /
  output: o
  priority: WARNING
- rule: off
  desc: d
  condition: evt.type = open and proc.name = cat
  output: o
  priority: WARNING
  enabled: false
- rule: any cat
  desc: d
  condition: evt.type in (open, execve) and proc.name = cat
  output: o
  priority: INFO
"""


class _BrokenFd:
    """An event whose fd cannot be read (a backend bug): reading ``fd`` raises."""

    source = "syscall"

    def __init__(self, event: SyscallEvent) -> None:
        self._event = event
        self.cache: dict[Any, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name == "fd":
            raise RuntimeError("fd table corrupt")
        return getattr(self._event, name)


def _open(name: str) -> SyscallEvent:
    return SyscallEvent(type="open", proc=ProcessInfo(pid=1, name=name), fd=FdInfo(name="/x"))


@pytest.mark.parametrize("matching", ["first", "all"])
def test_a_raising_field_fails_the_event_exactly_when_the_per_rule_path_does(matching: str) -> None:
    shared, per_rule = _pair(load_rules([("r.yaml", RULES)], rule_matching=matching))
    behind_guard = _BrokenFd(_open("bash"))  # no rule gets past proc.name: fd is never read
    assert shared.evaluate(behind_guard) == per_rule.evaluate(behind_guard) == []
    reached = _BrokenFd(_open("sh"))
    for ruleset in (shared, per_rule):
        with pytest.raises(RuntimeError, match="fd table corrupt"):
            ruleset.evaluate(reached)
        batch = ruleset.evaluate_batch([_open("cat"), reached, behind_guard])
        assert [e for e, _ in batch.failed] == [reached]
        assert [(_names(r)) for _, r in batch.matched] == [["cat reads x"] if matching == "first"
                                                          else ["cat reads x", "any cat"]]


def test_disabled_rules_are_skipped_and_rule_order_decides_the_first_match() -> None:
    shared, per_rule = _pair(load(RULES))
    for ruleset in (shared, per_rule):
        assert _names(ruleset.evaluate(_open("cat"))) == ["cat reads x"]
        assert _names(ruleset.evaluate(SyscallEvent(type="execve", proc=ProcessInfo(pid=1, name="cat")))) == [
            "any cat"]
        assert ruleset.evaluate(SyscallEvent(type="connect", proc=ProcessInfo(pid=1, name="cat"))) == []
