"""Residual matchers: what a candidate still has to check once the index has chosen it, and that checking only
that gives the same matches as the whole condition (tuple AST through the indexer's hooks, and the real rules)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from test_k8s_audit_index import AND, NOT, OR, RULES, cmp, evaluate, shape

from engine.rules.k8s_audit_index import K8sAuditIndexer, constraint, membership, residual_conjuncts
from engine.sources.k8s_audit.decode import decode_payload
from engine.testing.audit_synth import synth_lines


def residual(node: Any) -> list[Any] | None:
    return residual_conjuncts(node, constraint(node, shape=shape), shape=shape)


def test_membership_is_exactly_one_indexed_field_in_a_set() -> None:
    assert membership(cmp("ka.verb", "=", "get"), shape=shape) == ("ka.verb", frozenset({"get"}))
    assert membership(OR(cmp("ka.verb", "=", "get"), cmp("ka.verb", "in", "list", "watch")), shape=shape) == \
        ("ka.verb", frozenset({"get", "list", "watch"}))
    assert membership(OR(cmp("ka.verb", "=", "get"), cmp("ka.user.name", "=", "bob")), shape=shape) is None
    assert membership(cmp("ka.verb", "startswith", "g"), shape=shape) is None
    assert membership(cmp("ka.target.namespace", "=", "x"), shape=shape) is None  # not indexed
    assert membership(NOT(cmp("ka.verb", "=", "get")), shape=shape) is None
    assert membership(AND(cmp("ka.verb", "=", "get")), shape=shape) is None


def test_residual_drops_only_conjuncts_the_constraint_implies() -> None:
    ns = cmp("ka.target.namespace", "=", "shop")
    assert residual(AND(cmp("ka.verb", "=", "create"), ns)) == [ns]
    assert residual(AND(AND(cmp("ka.verb", "in", "create", "update"), cmp("ka.verb", "=", "create")), ns)) == [ns]
    assert residual(AND(cmp("ka.verb", "=", "create"), cmp("ka.target.resource", "=", "pods"))) == []
    assert residual(ns) is None  # nothing to drop
    # an or over two fields constrains neither on its own: kept
    either = OR(cmp("ka.verb", "=", "get"), cmp("ka.target.resource", "=", "pods"))
    assert residual(AND(either, ns)) is None
    # a negated membership is not implied by anything
    assert residual(AND(cmp("ka.verb", "=", "get"), NOT(cmp("ka.verb", "=", "list")))) == \
        [NOT(cmp("ka.verb", "=", "list"))]
    # a wider set than the constraint is implied (verb is create here), a narrower one is not
    assert residual(AND(cmp("ka.verb", "=", "create"), cmp("ka.verb", "in", "create", "delete"), ns)) == [ns]


def _indexer(calls: list[int]) -> Any:
    def conjunction(nodes: list[Any]) -> Any:
        def match(event: Any) -> bool:
            calls.append(1)
            return all(evaluate(n, event) for n in nodes)
        return match

    return K8sAuditIndexer(shape=shape, predicate=lambda rule: lambda e: evaluate(rule[1], e), conjunction=conjunction)


@pytest.mark.parametrize("seed", [1, 2])
def test_pairs_match_exactly_what_the_whole_conditions_match(seed: int) -> None:
    events = [e for line in synth_lines(2000, seed=seed) for e in decode_payload(line)]
    rng = random.Random(seed)
    rules = RULES[:]
    rng.shuffle(rules)
    calls: list[int] = []
    lookup = _indexer(calls).build([(rule, rule[1]) for rule in rules])
    for event in events:
        full = [name for name, node in rules if evaluate(node, event)]
        pairs = lookup.pairs(event)
        assert [item for item, _ in pairs] == list(lookup(event))
        assert [item[0] for item, match in pairs if match(event)] == full
    assert calls  # residuals were really used


def test_folded_rules_known_true_skip_evaluation_and_failing_ones_keep_their_condition() -> None:
    evaluated: list[str] = []

    def predicate(rule: Any) -> Any:
        def match(event: Any) -> bool:
            evaluated.append(rule[0])
            if rule[0] == "fails" and event.obj.get("verb") == "delete":
                raise RuntimeError("boom")
            return evaluate(rule[1], event)
        return match

    rules = [("anon", cmp("ka.user.name", "=", "system:anonymous")),
             ("fails", AND(cmp("ka.verb", "in", "get", "delete"), NOT(cmp("ka.user.name", "startswith", "x"))))]
    lookup = K8sAuditIndexer(shape=shape, predicate=predicate, conjunction=lambda nodes: lambda e: all(
        evaluate(n, e) for n in nodes)).build([(r, r[1]) for r in rules])  # residuals never raise

    def event(verb: str, user: str) -> Any:
        obj = {"kind": "Event", "auditID": "a", "stageTimestamp": "2024-01-01T00:00:00Z", "verb": verb,
               "user": {"username": user}, "objectRef": {"resource": "pods"}}
        return decode_payload(orjson.dumps(obj))[0]

    first = lookup.pairs(event("get", "system:anonymous"))  # both fold to true for this key
    assert [item[0] for item, _ in first] == ["anon", "fails"]
    evaluated.clear()
    assert all(match(event("get", "system:anonymous")) for _, match in first) and evaluated == []
    failing = lookup.pairs(event("delete", "bob"))  # "fails" could not be folded: its whole condition stays
    assert [item[0] for item, _ in failing] == ["fails"]
    with pytest.raises(RuntimeError):
        failing[0][1](event("delete", "bob"))
    assert [item[0] for item, _ in lookup.pairs(event("get", "xavier"))] == []  # folded to false: dropped


@pytest.mark.parametrize("matching", ["first", "all"])
def test_real_rules_pairs_equal_unindexed_and_shrink_the_checks(upstream_rules: Any, matching: str) -> None:
    from engine.rules import load_rules
    from engine.rules.k8s_audit_index import _always

    paths = [upstream_rules / "k8s_audit_rules.yaml"]
    indexed = load_rules(paths, rule_matching=matching).ruleset
    plain = load_rules(paths, rule_matching=matching, indexers={}).ruleset
    assert indexed is not None and plain is not None
    events = [e for seed in (5, 6) for line in synth_lines(3000, seed=seed) for e in decode_payload(line)]
    checks = whole = 0
    for event in events:
        assert [r.name for r in indexed.evaluate(event)] == [r.name for r in plain.evaluate(event)]
        for rule, match in indexed._pairs["k8s_audit"](event):
            checks += 1
            whole += match is rule.match
            if match is _always:
                assert rule.match(event)
    # 48 rules per event unindexed; the index and the folded time idioms leave under one check per two events
    # (the never-true rules, such as "All K8s Audit Events", are no candidate at all), each a residual condition.
    assert 0 < checks < len(events) // 2
    assert whole < checks // 10


@pytest.mark.parametrize("stamp, ts", [("1970-01-01T00:00:00Z", 0), ("1969-12-31T23:00:00-01:00", 0),
                                       ("1970-01-01T01:00:00.000000+01:00", 0), ("1970-01-01T00:00:00.000000001Z", 1)])
@pytest.mark.parametrize("read", ["whole", "header"])
def test_an_event_stamped_at_the_epoch_meets_the_rules_as_written(upstream_rules: Any, stamp: str, ts: int,
                                                                  read: str) -> None:
    """The index folds ``jevt.rawtime = 0`` to false and ``jevt.rawtime exists`` to true for real traffic; an event
    whose time is the epoch takes the rules unfolded, so "All K8s Audit Events" (``jevt.rawtime=0``) fires for it,
    in either form of the event (a header's checked datetime keeps microseconds: one nanosecond past the epoch
    is not the epoch)."""
    from engine.rules import load_rules
    from engine.sources.k8s_audit.decode import read_event

    paths = [upstream_rules / "k8s_audit_rules.yaml"]
    indexed = load_rules(paths).ruleset
    plain = load_rules(paths, indexers={}).ruleset
    assert indexed is not None and plain is not None
    fired = 0
    for line in synth_lines(300, seed=7):
        value = orjson.loads(line)
        value["stageTimestamp"] = stamp
        text = orjson.dumps(value)
        event = read_event(text) if read == "header" else decode_payload(text)[0]
        assert event is not None and event.has_header == (read == "header")
        got = [r.name for r in indexed.evaluate(event)]
        assert got == [r.name for r in plain.evaluate(event)] and event.ts == ts
        fired += got == ["All K8s Audit Events"]
    assert (fired > 50) if ts == 0 else (fired == 0)
