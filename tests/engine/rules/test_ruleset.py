"""Ruleset: candidate selection by source and event type, first vs all matching, disabled rules, checksum."""

from __future__ import annotations

import hashlib

from helpers import load

from engine.events.k8s_audit import DecodedEvent
from engine.events.syscall import ProcessInfo, SyscallEvent
from engine.rules import load_rules

RULES = """
- rule: open by cat
  desc: d
  condition: evt.type = open and proc.name = cat
  output: cat opened
  priority: WARNING
- rule: any open
  desc: d
  condition: evt.type in (open, openat)
  output: open
  priority: INFO
- rule: exec
  desc: d
  condition: evt.type = execve
  output: exec %proc.name
  priority: INFO
- rule: untyped
  desc: d
  condition: proc.name = cat
  output: cat
  priority: DEBUG
  warn_evttypes: false
- rule: off
  desc: d
  condition: evt.type = open
  output: off
  priority: INFO
  enabled: false
- rule: audit
  desc: d
  condition: ka.verb = get
  output: get %ka.user.name
  priority: INFO
  source: k8s_audit
"""


def _evt(kind: str, name: str) -> SyscallEvent:
    return SyscallEvent(type=kind, proc=ProcessInfo(pid=1, name=name))


def _names(rules) -> list[str]:
    return [r.name for r in rules]


def test_first_match_follows_definition_order() -> None:
    rs = load(RULES).ruleset
    assert _names(rs.evaluate(_evt("open", "cat"))) == ["open by cat"]
    assert _names(rs.evaluate(_evt("open", "dog"))) == ["any open"]
    assert _names(rs.evaluate(_evt("close", "dog"))) == []


def test_all_matching_returns_every_enabled_match() -> None:
    rs = load_rules([("r.yaml", RULES)], rule_matching="all").ruleset
    assert _names(rs.evaluate(_evt("open", "cat"))) == ["open by cat", "any open", "untyped"]
    assert _names(rs.evaluate(_evt("close", "cat"))) == ["untyped"]


def test_candidates_are_indexed_by_event_type() -> None:
    rs = load(RULES).ruleset
    assert _names(rs.candidates(_evt("execve", "x"))) == ["exec", "untyped"]
    assert rs.evttypes_needed("k8s_audit") == frozenset()
    assert "execve" in rs.evttypes_needed("syscall") and len(rs.evttypes_needed("syscall")) > 100


def test_sources_are_kept_apart() -> None:
    rs = load(RULES).ruleset
    event = DecodedEvent(
        {
            "verb": "get",
            "stage": "ResponseComplete",
            "user": {"username": "bob"},
            "stageTimestamp": "2024-01-01T00:00:00Z",
        },
        ts=1704067200_000000000,
    )
    (match,) = rs.evaluate(event)
    assert match.name == "audit"
    assert match.formatter.format(event) == ("get bob", {"ka.user.name": "bob"})
    assert rs.sources_used == ("k8s_audit", "syscall")


def test_checksum_is_sha256_of_contents() -> None:
    rs = load(RULES).ruleset
    assert rs.checksum == hashlib.sha256(RULES.encode()).hexdigest()


def test_bad_rule_matching_is_rejected() -> None:
    import pytest

    with pytest.raises(ValueError):
        load_rules([("r.yaml", RULES)], rule_matching="some")


AUDIT_TWO = """
- rule: get one
  desc: d
  condition: ka.verb = get
  output: one
  priority: INFO
  source: k8s_audit
- rule: get two
  desc: d
  condition: ka.verb = get and ka.user.name = bob
  output: two
  priority: INFO
  source: k8s_audit
"""


def test_source_indexer_hook_decides_the_candidates() -> None:
    seen = {}

    def build(entries):
        seen["entries"] = entries
        last = [rule for rule, _ast in entries][-1:]
        return lambda event: last

    rs = load_rules([("a.yaml", AUDIT_TWO)], indexers={"k8s_audit": build}).ruleset
    assert [rule.name for rule, _ in seen["entries"]] == ["get one", "get two"]
    assert all(ast is not None for _, ast in seen["entries"])
    event = DecodedEvent({"verb": "get", "user": {"username": "bob"}, "stageTimestamp": "2024-01-01T00:00:00Z"},
                       ts=1704067200_000000000)
    assert _names(rs.evaluate(event)) == ["get two"]
    unindexed = load_rules([("a.yaml", AUDIT_TWO)], indexers={}).ruleset
    assert _names(unindexed.evaluate(event)) == ["get one"]
