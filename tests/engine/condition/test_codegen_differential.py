"""Differential test: generated code against a small, obviously-written reference evaluator, on seeded
random conditions (nested and/or/not, repeated fields, modifiers, list fields) and random events, some
with missing values."""

from __future__ import annotations

import fnmatch
import random
import re
from typing import Any

import pytest
from condition_fixtures import TABLE, DictEvent

from engine.condition import compile_condition, to_string
from engine.condition.ast import And, Compare, FieldRef, ListValue, Node, Not, Or, Value

WORDS = ["bash", "sh", "zsh", "curl", "Bash", "ba", "sh -c", ""]
STR_OPS = ["=", "!=", "contains", "icontains", "startswith", "endswith", "glob", "<", ">="]


def _reference(node: Node, values: dict[str, Any]) -> bool:
    if isinstance(node, And):
        return all(_reference(c, values) for c in node.children)
    if isinstance(node, Or):
        return any(_reference(c, values) for c in node.children)
    if isinstance(node, Not):
        return not _reference(node.child, values)
    assert isinstance(node, Compare) and isinstance(node.left, FieldRef)
    value = values.get(node.left.name)
    is_list = TABLE[node.left.name].is_list
    if node.op == "exists":
        return bool(value) if is_list else value is not None
    if value is None or (is_list and not value):
        return False
    right = node.right
    items = [v.text for v in right.items] if isinstance(right, ListValue) else [right.text]  # type: ignore[union-attr]
    if node.left.name == "evt.num":
        items = [int(i) for i in items]  # type: ignore[misc]
    elements = value if is_list else [value]
    if node.op == "in":
        return all(e in items for e in elements)
    if node.op == "intersects":
        return any(e in items for e in elements)

    def one(e: Any, c: Any) -> bool:
        op = node.op
        if op == "=":
            return bool(e == c)
        if op == "!=":
            return bool(e != c)
        if op == "<":
            return bool(e < c)
        if op == ">=":
            return bool(e >= c)
        if op == "contains":
            return c in e
        if op == "icontains":
            return c.lower() in e.lower()
        if op == "startswith":
            return bool(e.startswith(c))
        if op == "endswith":
            return bool(e.endswith(c))
        if op == "glob":
            return re.fullmatch(fnmatch.translate(c), e, re.DOTALL) is not None
        raise AssertionError(op)

    quantifier = all if node.modifier == "allof" else any
    return any(quantifier(one(e, c) for c in items) for e in elements)


def _compare(rng: random.Random) -> Compare:
    roll = rng.random()
    if roll < 0.15:
        return Compare(FieldRef(rng.choice(["proc.name", "proc.args", "evt.num"])), "exists")
    if roll < 0.3:
        op = rng.choice(["=", "!=", "<", ">=", "in"])
        if op == "in":
            return Compare(
                FieldRef("evt.num"), op, ListValue(tuple(Value(str(rng.randint(0, 5))) for _ in range(3)))
            )
        return Compare(FieldRef("evt.num"), op, Value(str(rng.randint(0, 5))))
    field = rng.choice(["proc.name", "proc.name", "proc.args"])
    if roll < 0.5:
        items = tuple(Value(rng.choice(WORDS)) for _ in range(rng.randint(0, 3)))
        return Compare(FieldRef(field), rng.choice(["in", "intersects"]), ListValue(items))
    op = rng.choice(STR_OPS)
    if roll < 0.65 and op not in ("<", ">="):
        items = tuple(Value(rng.choice(WORDS)) for _ in range(rng.randint(1, 3)))
        return Compare(FieldRef(field), op, ListValue(items), rng.choice(["oneof", "anyof", "allof"]))
    text = rng.choice(WORDS) if op != "glob" else rng.choice(["b*", "*sh", "?ash", "*"])
    return Compare(FieldRef(field), op, Value(text))


def _tree(rng: random.Random, depth: int) -> Node:
    roll = rng.random()
    if depth == 0 or roll < 0.35:
        return _compare(rng)
    if roll < 0.5:
        return Not(_tree(rng, depth - 1))
    cls = And if roll < 0.75 else Or
    return cls(tuple(_tree(rng, depth - 1) for _ in range(rng.randint(2, 3))))


def _values(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rng.random() < 0.8:
        out["proc.name"] = rng.choice(WORDS)
    if rng.random() < 0.8:
        out["proc.args"] = [rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.8:
        out["evt.num"] = rng.randint(0, 5)
    return out


@pytest.mark.parametrize("seed", range(30))
def test_generated_code_agrees_with_reference(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        tree = _tree(rng, 3)
        fn = compile_condition(tree, "syscall", fields=TABLE)
        for _ in range(15):
            values = _values(rng)
            assert fn(DictEvent(values)) is _reference(tree, values), (to_string(tree), values)
