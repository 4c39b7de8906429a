"""The one condition walker: leaves in condition order, comparisons only, every field read."""

from __future__ import annotations

from engine.condition import parse
from engine.condition.ast import Compare, MacroRef
from engine.condition.walk import compares, field_refs, leaves


def test_leaves_come_in_condition_order_through_and_or_not() -> None:
    node = parse("a and not (proc.name = x or b) and (fd.name = y or not c)")
    got = [leaf.name if isinstance(leaf, MacroRef) else leaf.left.name for leaf in leaves(node)]
    assert got == ["a", "proc.name", "b", "fd.name", "c"]


def test_compares_skip_macro_references() -> None:
    node = parse("a and proc.name = x and not b")
    assert [type(c) for c in compares(node)] == [Compare]


def test_field_refs_include_the_right_side_and_transformer_arguments() -> None:
    node = parse("tolower(proc.name) = val(proc.pname) and not fd.name exists and m")
    assert sorted(ref.name for ref in field_refs(node)) == ["fd.name", "proc.name", "proc.pname"]


def test_a_long_condition_walks_without_recursion() -> None:
    node = parse(" or ".join(f"proc.name = p{i}" for i in range(3000)))
    assert sum(1 for _ in compares(node)) == 3000
