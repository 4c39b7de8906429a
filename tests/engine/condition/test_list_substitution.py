"""``substitute_lists``: token-aware replacement of list names inside value lists."""

from __future__ import annotations

from engine.condition import parse, substitute_lists
from engine.condition.ast import ListValue, Value

LISTS = {
    "shells": ["bash", "sh"],
    "empty": [],
    "nested": ["shells", "zsh"],
    "ports": [22, 2222],
    "flags": [True],
    "odd": ["a b", "c,d", "(x)", "it's"],
    "loop": ["loop", "x"],
}


def test_names_in_value_lists_are_replaced() -> None:
    out = substitute_lists("proc.name in (shells, csh)", LISTS)
    assert out == "proc.name in (bash, sh, csh)"


def test_other_positions_are_untouched() -> None:
    text = 'proc.name = shells and fd.name contains shells and proc.cmdline = "in (shells)" and ka.uri.param[in] = x'
    assert substitute_lists(text, LISTS) == text


def test_every_list_operator_and_modifier() -> None:
    assert substitute_lists("x.y intersects (shells)", LISTS) == "x.y intersects (bash, sh)"
    assert substitute_lists("x.y pmatch (shells)", LISTS) == "x.y pmatch (bash, sh)"
    assert substitute_lists("x.y startswith oneof (shells)", LISTS) == "x.y startswith oneof (bash, sh)"


def test_bare_list_name_after_in_gets_parentheses() -> None:
    assert substitute_lists("proc.name in shells", LISTS) == "proc.name in (bash, sh)"
    assert substitute_lists("proc.name in shellsx", LISTS) == "proc.name in shellsx"


def test_empty_nested_and_cyclic_lists() -> None:
    assert substitute_lists("x.y in (empty)", LISTS) == "x.y in ()"
    assert substitute_lists("x.y in (empty, a)", LISTS) == "x.y in (a)"
    assert substitute_lists("x.y in (nested)", LISTS) == "x.y in (bash, sh, zsh)"
    assert substitute_lists("x.y in (loop)", LISTS) == "x.y in (loop, x)"


def test_items_are_quoted_when_needed_and_parse_back() -> None:
    out = substitute_lists("x.y in (odd)", LISTS)
    node = parse(out)
    assert node.right == ListValue(tuple(Value(v) for v in ["a b", "c,d", "(x)", "it's"]))  # type: ignore[union-attr]


def test_yaml_numbers_and_booleans_become_text() -> None:
    assert substitute_lists("fd.sport in (ports)", LISTS) == "fd.sport in (22, 2222)"
    assert substitute_lists("x.y intersects (flags)", LISTS) == "x.y intersects (true)"


def test_quoted_item_with_list_name_is_a_value() -> None:
    assert substitute_lists("x.y in ('shells', shells)", LISTS) == "x.y in ('shells', bash, sh)"


def test_malformed_list_is_left_for_the_parser() -> None:
    assert substitute_lists("x.y in (shells", LISTS) == "x.y in (shells"


def test_list_names_with_blanks_are_substituted_as_falco_does() -> None:
    lists = {"test list": ["open", "openat"], "test": ["x"]}
    assert substitute_lists("evt.type in (test list)", lists) == "evt.type in (open, openat)"
    assert substitute_lists("evt.type in (a, test list, test)", lists) == "evt.type in (a, open, openat, x)"
    assert substitute_lists("evt.type in (test listx)", lists) == "evt.type in (test listx)"
