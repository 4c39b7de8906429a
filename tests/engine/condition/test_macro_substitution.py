"""Macro passes: references and recursive substitution."""

from __future__ import annotations

import pytest

from engine.condition import MacroCycleError, macro_refs, parse, substitute_macros, to_string


def test_macro_refs_finds_bare_identifiers_only() -> None:
    assert macro_refs(parse("a and not (b or proc.name = c) and proc.name in (d)")) == {"a", "b"}


def test_substitution_is_recursive_and_keeps_unknown_names() -> None:
    macros = {"a": parse("proc.name = x or b"), "b": parse("fd.name = y")}
    node = substitute_macros(parse("evt.type = open and a and unknown"), macros)
    assert to_string(node) == "(evt.type = open and (proc.name = x or fd.name = y) and unknown)"
    assert macro_refs(node) == {"unknown"}


def test_cycle_is_reported_with_its_chain() -> None:
    macros = {"a": parse("b"), "b": parse("not a")}
    with pytest.raises(MacroCycleError) as info:
        substitute_macros(parse("a"), macros)
    assert info.value.chain == ("a", "b", "a")


def test_unchanged_tree_is_returned_as_is() -> None:
    node = parse("proc.name = x and y")
    assert substitute_macros(node, {}) is node
