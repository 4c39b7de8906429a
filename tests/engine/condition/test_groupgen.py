"""Shared evaluation of a group of conditions (``compile_group``) against each condition's own function run in
turn: same results in both matching modes, the same extractions in the same order with repeats left out, the
same failures when an extractor raises, and ``evt.type`` folding that changes none of that."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from condition_fixtures import TABLE, DictEvent

from engine.condition import compile_condition, parse
from engine.condition.ast import And, Compare, FieldRef, ListValue, Node, Not, Or, Value
from engine.condition.groupgen import Const, compile_group, fold_evt_type, shared_nodes

BOOM = object()  # a field value whose extraction raises


def _raising(spec: Any) -> Any:
    inner = spec.extract

    def extract(event: DictEvent, arg: Any) -> Any:
        value = inner(event, arg)
        if value is BOOM:
            raise RuntimeError(f"extractor bug: {spec.name}")
        return value

    return dataclasses.replace(spec, extract=extract)


FIELDS = {name: _raising(spec) for name, spec in TABLE.items()}
TYPES = ["open", "openat", "execve", "connect"]
NAMES = ["bash", "cat", "sh", "sshd", ""]
PATHS = ["/etc/shadow", "/etc/passwd", "/tmp/x", "/root/.ssh/id_rsa"]


def _leaf(rng: random.Random) -> Node:
    roll = rng.random()
    if roll < 0.2:
        types = tuple(Value(t) for t in rng.sample(TYPES, rng.randint(1, 3)))
        op = rng.choice(["in", "=", "!="])
        return Compare(FieldRef("evt.type"), op, ListValue(types) if op == "in" else types[0])
    if roll < 0.4:
        return Compare(FieldRef("proc.name"), "in", ListValue(tuple(Value(n) for n in rng.sample(NAMES, 2))))
    if roll < 0.55:
        return Compare(FieldRef("fd.name"), rng.choice(["startswith", "=", "contains"]), Value(rng.choice(PATHS)))
    if roll < 0.7:
        return Compare(FieldRef("proc.args"), rng.choice(["=", "intersects", "startswith"]), Value(rng.choice(NAMES)))
    if roll < 0.8:
        return Compare(FieldRef("proc.aname", str(rng.randint(1, 3))), "=", Value(rng.choice(NAMES)))
    if roll < 0.9:
        return Compare(FieldRef(rng.choice(["proc.name", "fd.name", "proc.pname"])), "exists")
    return Compare(FieldRef("evt.num"), rng.choice([">", "<="]), Value(str(rng.randint(0, 4))))


def _tree(rng: random.Random, pool: Sequence[Node], depth: int) -> Node:
    roll = rng.random()
    if pool and roll < 0.3:
        return rng.choice(pool)  # a "macro": the same sub-tree in several conditions
    if depth == 0 or roll < 0.5:
        return _leaf(rng)
    if roll < 0.6:
        return Not(_tree(rng, pool, depth - 1))
    cls = And if roll < 0.85 else Or
    return cls(tuple(_tree(rng, pool, depth - 1) for _ in range(rng.randint(2, 4))))


def _group(rng: random.Random) -> list[Node]:
    pool: list[Node] = []
    for _ in range(4):
        pool.append(_tree(rng, pool, 2))
    return [_tree(rng, pool, 3) for _ in range(rng.randint(1, 12))]


def _values(rng: random.Random, evt_type: str, *, boom: float) -> dict[str, Any]:
    def pick(choices: Sequence[Any], missing: float = 0.15) -> Any:
        roll = rng.random()
        return BOOM if roll < boom else None if roll < boom + missing else rng.choice(choices)

    values = {"evt.type": evt_type, "proc.name": pick(NAMES), "proc.pname": pick(NAMES), "fd.name": pick(PATHS),
              "evt.num": pick(range(5)), "proc.args": pick([[], ["bash"], ["-c", "sh"], ["cat", "sshd"]])}
    for i in (1, 2, 3):
        values[f"proc.aname[{i}]"] = pick([[n] for n in NAMES])
    return {k: v for k, v in values.items() if v is not None}


def _outcome(fn: Callable[[DictEvent], Any], values: dict[str, Any], evt_type: str) -> tuple[Any, list[str]]:
    event = DictEvent(values, evt_type)
    try:
        return fn(event), event.calls
    except RuntimeError as exc:
        return ("raised", str(exc)), event.calls


def _sequential(nodes: Sequence[Node], *, first: bool) -> Callable[[DictEvent], list[int]]:
    fns = [compile_condition(n, "syscall", fields=FIELDS) for n in nodes]

    def run(event: DictEvent) -> list[int]:
        out = []
        for i, fn in enumerate(fns):
            if fn(event):
                out.append(i)
                if first:
                    break
        return out

    return run


def _first_occurrences(calls: list[str], *, drop: str | None = None) -> list[str]:
    seen: set[str] = set()
    out = []
    for c in calls:
        if c not in seen and c != drop:
            seen.add(c)
            out.append(c)
    return out


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("first", [True, False], ids=["first", "all"])
def test_group_agrees_with_each_condition_in_turn(seed: int, first: bool) -> None:
    rng = random.Random(seed)
    nodes = _group(rng)
    reference = _sequential(nodes, first=first)
    plain = compile_group(nodes, "syscall", results=range(len(nodes)), first=first, fields=FIELDS)
    folded = {t: compile_group(nodes, "syscall", results=range(len(nodes)), first=first, fields=FIELDS,
                               evt_type=t) for t in TYPES}
    for _ in range(25):
        evt_type = rng.choice(TYPES)
        values = _values(rng, evt_type, boom=0.05 if rng.random() < 0.3 else 0.0)
        want, want_calls = _outcome(reference, values, evt_type)
        got, got_calls = _outcome(plain, values, evt_type)
        assert got == want, (nodes, values)
        # The same extractions in the same order, each field once: the group only skips repeated work.
        assert got_calls == _first_occurrences(want_calls), (nodes, values)
        got, got_calls = _outcome(folded[evt_type], values, evt_type)
        assert got == want, (nodes, values, evt_type)
        assert got_calls == _first_occurrences(want_calls, drop="evt.type"), (nodes, values, evt_type)


def test_a_macro_used_by_several_rules_is_evaluated_once() -> None:
    macro = "(proc.name in (cat, bash) and fd.name startswith /etc)"
    nodes = [parse(f"{macro} and proc.pname = {p}") for p in ("a", "b", "c", "sshd")]
    fn = compile_group(nodes, "syscall", results=["a", "b", "c", "sshd"], first=False, fields=FIELDS)
    event = DictEvent({"proc.name": "cat", "fd.name": "/etc/shadow", "proc.pname": "sshd"})
    assert fn(event) == ["sshd"]
    assert event.calls == ["proc.name", "fd.name", "proc.pname"]
    src = fn.__condition_source__
    assert "_c0" in src and "_c1" not in src  # one memo for the macro, filled wherever it first runs


def test_first_mode_stops_at_the_first_match_in_order() -> None:
    nodes = [parse("proc.name = cat"), parse("fd.name = /etc/shadow"), parse("proc.name exists")]
    fn = compile_group(nodes, "syscall", results=["r0", "r1", "r2"], first=True, fields=FIELDS)
    event = DictEvent({"proc.name": "bash", "fd.name": "/etc/shadow"})
    assert fn(event) == ["r1"] and event.calls == ["proc.name", "fd.name"]
    every = compile_group(nodes, "syscall", results=["r0", "r1", "r2"], first=False, fields=FIELDS)
    assert every(DictEvent({"proc.name": "cat", "fd.name": "/etc/shadow"})) == ["r0", "r1", "r2"]
    assert every(DictEvent({})) == []


def test_missing_values_make_shared_comparisons_false_and_not_flips_them() -> None:
    nodes = [parse("fd.name startswith /etc and proc.name = cat"), parse("not fd.name startswith /etc"),
             parse("not (fd.name startswith /etc and proc.name = cat)")]
    fn = compile_group(nodes, "syscall", results=[0, 1, 2], first=False, fields=FIELDS)
    assert fn(DictEvent({"proc.name": "cat"})) == [1, 2]
    assert fn(DictEvent({"proc.name": "cat", "fd.name": "/etc/x"})) == [0]


def test_a_raising_shared_part_behind_a_false_guard_is_never_evaluated() -> None:
    shared = "fd.name startswith /etc"
    nodes = [parse(f"proc.name = cat and {shared}"), parse(f"proc.name = sh and {shared}")]
    fn = compile_group(nodes, "syscall", results=[0, 1], first=False, fields=FIELDS)
    event = DictEvent({"proc.name": "bash", "fd.name": BOOM})
    assert fn(event) == [] and "fd.name" not in event.calls
    with pytest.raises(RuntimeError, match="fd.name"):  # reached by the second rule: raises, as it would alone
        fn(DictEvent({"proc.name": "sh", "fd.name": BOOM}))


def test_a_part_that_raised_is_not_remembered_as_a_value() -> None:
    nodes = [parse("fd.name startswith /etc or proc.name = cat"), parse("fd.name startswith /etc")]
    fn = compile_group(nodes, "syscall", results=[0, 1], first=False, fields=FIELDS)
    with pytest.raises(RuntimeError):
        fn(DictEvent({"proc.name": "cat", "fd.name": BOOM}))
    assert fn(DictEvent({"proc.name": "cat", "fd.name": "/etc/x"})) == [0, 1]  # a fresh event starts clean


def test_evt_type_checks_fold_to_constants() -> None:
    node = parse("evt.type in (open, openat) and (proc.name = cat or evt.type = execve)")
    assert fold_evt_type(node, "openat") == parse("proc.name = cat")
    assert fold_evt_type(node, "execve") == Const(False)
    assert fold_evt_type(parse("not evt.type = open"), "open") == Const(False)
    assert fold_evt_type(parse("evt.type != open or proc.name = cat"), "openat") == Const(True)
    # Children before a deciding constant still run (they would, in order): only what follows is dropped.
    kept = fold_evt_type(parse("proc.name = cat and evt.type = execve and fd.name = x"), "open")
    assert kept == And((parse("proc.name = cat"), Const(False)))
    assert fold_evt_type(parse("evt.type startswith open"), "open") == parse("evt.type startswith open")


def test_conditions_folded_to_false_are_not_emitted() -> None:
    nodes = [parse("evt.type = execve and proc.name = cat"), parse("evt.type = open and proc.name = cat")]
    fn = compile_group(nodes, "syscall", results=["exec", "open"], first=True, fields=FIELDS, evt_type="open")
    assert "exec" not in fn.__condition_source__.split("def evaluate")[1].replace("evaluate", "")
    event = DictEvent({"proc.name": "cat"}, "open")
    assert fn(event) == ["open"] and event.calls == ["proc.name"]


def test_shared_nodes_counts_the_inside_of_a_repeated_node_once() -> None:
    inner = parse("proc.name = cat")
    outer = parse("proc.name = cat and fd.name = x")
    assert shared_nodes([outer, outer]) == {outer}
    assert shared_nodes([outer, outer, inner]) == {outer, inner}
    assert shared_nodes([outer, parse("fd.name = y")]) == frozenset()


def test_results_must_pair_with_nodes() -> None:
    with pytest.raises(ValueError):
        compile_group([parse("proc.name = cat")], "syscall", results=[], first=True, fields=FIELDS)
