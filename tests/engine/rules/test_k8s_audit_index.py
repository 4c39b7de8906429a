"""Verb/resource indexing of audit rules: constraints from conditions, and indexed == unindexed results.

Conditions here are a tiny tuple AST read through the indexer's ``shape`` hook, with a matching evaluator, so the
indexer's logic is checked on its own; the test against the real condition AST and upstream rules is
``test_real_rules_indexed_equals_unindexed``.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from shared_material import audit_event_files

from engine.fields import lookup as field_lookup
from engine.rules.k8s_audit_index import K8sAuditIndexer, constraint
from engine.sources.k8s_audit.decode import decode_payload
from engine.sources.replay import replay
from engine.testing.audit_synth import synth_lines


def shape(node: Any) -> tuple[str, Any]:
    return node


def cmp(fld: str, op: str, *values: str) -> tuple[str, Any]:
    return ("cmp", (fld, op, values))


def AND(*c: Any) -> tuple[str, Any]:
    return ("and", c)


def OR(*c: Any) -> tuple[str, Any]:
    return ("or", c)


def NOT(c: Any) -> tuple[str, Any]:
    return ("not", c)


def evaluate(node: Any, event: Any) -> bool:
    kind, payload = node
    if kind == "and":
        return all(evaluate(c, event) for c in payload)
    if kind == "or":
        return any(evaluate(c, event) for c in payload)
    if kind == "not":
        return not evaluate(payload, event)
    fld, op, values = payload
    value = field_lookup("k8s_audit", fld).extract(event, None)  # type: ignore[union-attr]
    if value is None:
        return False
    if op == "=":
        return value == values[0]
    if op == "in":
        return value in values
    if op == "startswith":
        return value.startswith(values[0])
    raise AssertionError(op)


def c(node: Any) -> dict[str, frozenset[str]]:
    return constraint(node, shape=shape)


def test_constraints() -> None:
    assert c(cmp("ka.verb", "=", "create")) == {"ka.verb": frozenset({"create"})}
    assert c(cmp("ka.verb", "in", "create", "update")) == {"ka.verb": frozenset({"create", "update"})}
    assert c(AND(cmp("ka.verb", "in", "create", "update"), cmp("ka.verb", "=", "create"),
                 cmp("ka.target.resource", "=", "pods"), cmp("ka.user.name", "=", "x"),
                 cmp("ka.target.namespace", "=", "ns"))) == {
        "ka.verb": frozenset({"create"}), "ka.target.resource": frozenset({"pods"}),
        "ka.user.name": frozenset({"x"})}
    # or: only fields constrained on every branch, with the union of values
    assert c(OR(AND(cmp("ka.verb", "=", "create"), cmp("ka.target.resource", "=", "pods")),
                cmp("ka.verb", "=", "delete"))) == {"ka.verb": frozenset({"create", "delete"})}
    # anything not understood constrains nothing
    assert c(NOT(cmp("ka.verb", "=", "get"))) == {}
    assert c(cmp("ka.verb", "startswith", "cre")) == {}
    assert c(OR(cmp("ka.verb", "=", "get"), cmp("ka.user.name", "=", "bob"))) == {}
    assert c(AND()) == {}
    # contradictory conjunction: nothing can match
    assert c(AND(cmp("ka.verb", "=", "get"), cmp("ka.verb", "=", "list"))) == {"ka.verb": frozenset()}


RULES = [
    ("create pods", AND(cmp("ka.verb", "=", "create"), cmp("ka.target.resource", "=", "pods"))),
    ("rbac", AND(cmp("ka.target.resource", "in", "clusterrolebindings", "rolebindings", "roles"),
                 cmp("ka.verb", "in", "create", "update", "patch"))),
    ("not system", AND(NOT(cmp("ka.user.name", "startswith", "system:")), cmp("ka.verb", "=", "delete"))),
    ("secrets", OR(AND(cmp("ka.verb", "=", "get"), cmp("ka.target.resource", "=", "secrets")),
                   AND(cmp("ka.verb", "=", "list"), cmp("ka.target.resource", "=", "secrets")))),
    ("anon", cmp("ka.user.name", "=", "system:anonymous")),
    ("leases", AND(cmp("ka.verb", "=", "update"), cmp("ka.target.resource", "=", "leases"),
                   cmp("ka.target.namespace", "=", "nowhere"))),
    ("catch-all writes", NOT(cmp("ka.verb", "in", "get", "list", "watch"))),
    # reads a field outside the memo key that varies within one key: must never be folded
    ("patch in shop", AND(cmp("ka.verb", "=", "patch"), cmp("ka.target.namespace", "=", "shop"))),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_indexed_first_and_all_match_equal_unindexed(seed: int) -> None:
    events = [e for line in synth_lines(3000, seed=seed) for e in decode_payload(line)]
    rng = random.Random(seed)
    rules = RULES[:]
    rng.shuffle(rules)  # order matters for first-match; any order must agree
    lookup = K8sAuditIndexer(shape=shape, predicate=lambda rule: lambda e: evaluate(rule[1], e)).build(
        [(rule, rule[1]) for rule in rules])
    assert {rules[i][0] for i in lookup.folded} == {  # type: ignore[attr-defined]
        "create pods", "rbac", "not system", "secrets", "anon", "catch-all writes"}  # not "leases": namespace
    skipped = 0
    for event in events:
        full = [name for name, node in rules if evaluate(node, event)]
        candidates = lookup(event)
        skipped += len(rules) - len(candidates)
        indexed = [name for name, node in candidates if evaluate(node, event)]
        assert indexed == full
    assert skipped > len(events) * 5  # the index really skips work on this stream


def test_events_without_indexed_values_only_reach_unconstrained_rules() -> None:
    (event,) = decode_payload(b'{"kind":"Event","auditID":"a","stageTimestamp":"2024-01-01T00:00:00Z"}')
    lookup = K8sAuditIndexer(shape=shape).build(RULES)
    assert list(lookup(event)) == ["catch-all writes"]  # "anon" needs a user name, "not system" a verb


def upstream_conditions(path: Any) -> dict[str, Any]:
    """Rule name -> macro-expanded condition AST for an upstream rules file (plain define semantics)."""
    import yaml

    from engine.condition import parse, substitute_lists, substitute_macros

    items = yaml.safe_load(path.read_text())
    lists = {i["list"]: i["items"] for i in items if "list" in i}
    macros: dict[str, Any] = {}
    for item in items:
        if "macro" in item:
            macros[item["macro"]] = parse(substitute_lists(item["condition"], lists))
    return {i["rule"]: substitute_macros(parse(substitute_lists(i["condition"], lists)), macros)
            for i in items if "rule" in i and "condition" in i}


def test_upstream_rules_get_the_constraints_their_conditions_pin(upstream_rules: Any) -> None:
    rules = upstream_conditions(upstream_rules / "k8s_audit_rules.yaml")
    cons = {name: constraint(node) for name, node in rules.items()}
    complete = frozenset({"ResponseComplete"})
    assert cons["Create Privileged Pod"] == {"ka.verb": frozenset({"create"}), "ka.stage": complete,
                                             "ka.target.resource": frozenset({"pods"})}
    assert cons["Attach/Exec Pod"]["ka.target.resource"] == frozenset({"pods"})
    assert cons["Disallowed K8s User"] == {"ka.stage": complete}  # every completed request, as it must
    assert cons["port-forward"] == {"ka.target.subresource": frozenset({"portforward"})}
    assert cons["Anonymous Request Allowed"]["ka.user.name"] == frozenset({"system:anonymous"})
    pinned = sum(1 for c in cons.values() if "ka.verb" in c)
    assert pinned >= 0.8 * len(cons)  # most upstream rules are pinned to a verb


def _load(paths: list[Any], **kwargs: Any) -> Any:
    from engine.rules import load_rules

    result = load_rules(paths, rule_matching="all", **kwargs)
    assert result.successful, [e.to_dict() for e in result.errors]
    return result.ruleset


def test_real_rules_indexed_equals_unindexed(upstream_rules: Any, conformance: Any) -> None:
    """With every upstream audit rule (all-match, so no rule hides another): same matches, fewer checks."""
    paths = [upstream_rules / "k8s_audit_rules.yaml"]
    indexed = _load(paths, indexers={"k8s_audit": K8sAuditIndexer()})
    plain = _load(paths, indexers={})
    events = [e for f in audit_event_files(conformance)[0] for e in replay(f)]  # files may be JSON lines
    events += [e for seed in (1, 2) for line in synth_lines(4000, seed=seed) for e in decode_payload(line)]
    checked_indexed = checked_plain = 0
    matched = 0
    for event in events:
        a = [r.name for r in indexed.evaluate(event)]
        b = [r.name for r in plain.evaluate(event)]
        assert a == b, event
        matched += bool(a)
        checked_indexed += len(indexed.candidates(event))
        checked_plain += len(plain.candidates(event))
    assert matched > 100  # the comparison covers events that do match rules
    assert checked_indexed * 4 < checked_plain  # and the index skips most of the work


def test_odd_values_are_indexed_by_their_rendering_not_aliased() -> None:
    """verb true / 1 / "1" render differently ("true", "1", "1"); the memo must not mix them up."""
    rules = [("one", cmp("ka.verb", "=", "1")), ("true", cmp("ka.verb", "=", "true"))]
    lookup = K8sAuditIndexer(shape=shape).build(rules)

    def verb(value: Any) -> Any:
        obj = {"kind": "Event", "auditID": "a", "stageTimestamp": "2024-01-01T00:00:00Z", "verb": value}
        return decode_payload(orjson.dumps(obj))[0]

    assert list(lookup(verb("1"))) == ["one"]
    assert list(lookup(verb(True))) == ["true"]
    assert list(lookup(verb(1))) == ["one"]
    assert list(lookup(verb({"x": 1}))) == []
    assert list(lookup(verb("true"))) == ["true"]
