"""Round-trip property: for random trees, ``parse(to_string(tree)) == tree`` (seeded, reproducible)."""

from __future__ import annotations

import random

import pytest

from engine.condition import parse, to_string
from engine.condition.ast import (
    MODIFIER_OPS,
    MODIFIERS,
    NUM_OPS,
    STR_OPS,
    And,
    Compare,
    FieldRef,
    ListValue,
    MacroRef,
    Node,
    Not,
    Or,
    Transform,
    Value,
)

ALPHABET = "ab /.-_*?[](),='\"\\\t\n:!{}$é"
FIELDS = ["proc.name", "fd.name", "ka.uri.param", "evt.arg.flags", "k8s.pod.label.app", "jevt.value"]
ARGS = [None, "0", "pretty", "/user/name", "a b", "x'y", 'q"']


KEYWORDS = ["oneof", "allof", "and", "or", "not", "exists", "in", "val", "0x1f", "-3.5e+2"]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(KEYWORDS)
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))


def _field(rng: random.Random) -> FieldRef | Transform:
    ref = FieldRef(rng.choice(FIELDS), rng.choice(ARGS))
    if rng.random() < 0.2:
        return Transform(rng.choice(["tolower", "toupper", "b64", "basename", "len"]), (ref,))
    return ref


def _compare(rng: random.Random) -> Compare:
    left = _field(rng)
    kind = rng.random()
    if kind < 0.1:
        return Compare(left, "exists")
    if kind < 0.3:
        items = tuple(Value(_text(rng)) for _ in range(rng.randint(0, 4)))
        return Compare(left, rng.choice(["in", "intersects", "pmatch"]), ListValue(items))
    if kind < 0.4:
        return Compare(left, rng.choice(NUM_OPS), Value(str(rng.randint(-5, 5000))))
    if kind < 0.5:
        items = tuple(Value(_text(rng)) for _ in range(rng.randint(0, 3)))
        return Compare(left, rng.choice(MODIFIER_OPS), ListValue(items), rng.choice(MODIFIERS))
    if kind < 0.6:
        return Compare(left, rng.choice(STR_OPS), Transform("val", (FieldRef(rng.choice(FIELDS)),)))
    return Compare(left, rng.choice(STR_OPS), Value(_text(rng)))


def _tree(rng: random.Random, depth: int) -> Node:
    roll = rng.random()
    if depth == 0 or roll < 0.3:
        return MacroRef(rng.choice(["a", "b", "some_macro"])) if rng.random() < 0.2 else _compare(rng)
    if roll < 0.45:
        child = _tree(rng, depth - 1)
        return child.child if isinstance(child, Not) else Not(child)  # "not not x" reads back as x
    cls = And if roll < 0.75 else Or
    return cls(tuple(_tree(rng, depth - 1) for _ in range(rng.randint(2, 4))))


@pytest.mark.parametrize("seed", range(40))
def test_random_trees_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        tree = _tree(rng, 4)
        text = to_string(tree)
        assert parse(text) == tree, text
