"""Code generation: one function per condition, constants hoisted, fields extracted once per evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from condition_fixtures import DictEvent

from engine.condition import (
    ConditionTypeError,
    check,
    compile_condition,
    parse,
    substitute_lists,
    substitute_macros,
)
from engine.fields.base import FieldSpec


def test_field_used_twice_is_extracted_once(table: dict[str, FieldSpec]) -> None:
    fn = compile_condition(
        parse("proc.name startswith b and proc.name endswith h and proc.name != zsh"), "syscall", fields=table
    )
    event = DictEvent({"proc.name": "bash"})
    assert fn(event) is True
    assert event.calls == ["proc.name"]
    event2 = DictEvent({"proc.name": "bash"})
    assert fn(event2) is True and event2.calls == ["proc.name"]  # no state leaks between evaluations


def test_cache_fills_on_whichever_branch_runs_first(table: dict[str, FieldSpec]) -> None:
    fn = compile_condition(parse("(evt.num = 1 and proc.name = a) or proc.name = b"), "syscall", fields=table)
    event = DictEvent({"evt.num": 2, "proc.name": "b"})
    assert fn(event) is True
    assert event.calls == ["evt.num", "proc.name"]


def test_short_circuit_skips_later_extractions(table: dict[str, FieldSpec]) -> None:
    fn = compile_condition(parse("evt.num = 1 and proc.name = a"), "syscall", fields=table)
    event = DictEvent({"evt.num": 2})
    assert fn(event) is False and event.calls == ["evt.num"]


def test_result_is_a_real_bool(table: dict[str, FieldSpec]) -> None:
    fn = compile_condition(parse("proc.args intersects (a)"), "syscall", fields=table)
    assert fn(DictEvent({"proc.args": []})) is False
    assert fn(DictEvent({"proc.args": ["a"]})) is True


def test_constants_are_hoisted_into_the_closure(table: dict[str, FieldSpec]) -> None:
    fn = compile_condition(
        parse("proc.name regex 'a+' and fd.name glob '*.sh' and evt.num in (1, 2, 3)"),
        "syscall",
        fields=table,
    )
    src = fn.__condition_source__  # type: ignore[attr-defined]
    assert "def _factory(" in src and "compile" not in src and "frozenset" not in src
    assert fn.__code__.co_freevars  # matchers and the set are closure constants


def test_type_errors_raise_with_every_error(table: dict[str, FieldSpec]) -> None:
    with pytest.raises(ConditionTypeError) as info:
        compile_condition(parse("nope.x = 1 and evt.num = x"), "syscall", fields=table)
    assert info.value.errors == [
        "filter_check called with nonexistent field nope.x",
        "'x' is not a valid number for a uint64 field",
    ]


def test_quoted_values_with_braces_and_quotes(table: dict[str, FieldSpec]) -> None:
    fn = compile_condition(
        parse("""proc.name contains "{x}" or proc.name startswith oneof ('it\\'s', "q\\"")"""),
        "syscall",
        fields=table,
    )
    assert fn(DictEvent({"proc.name": "a{x}b"})) is True
    assert fn(DictEvent({"proc.name": "it's"})) is True
    assert fn(DictEvent({"proc.name": 'q"'})) is True
    assert fn(DictEvent({"proc.name": "x"})) is False


def test_real_registry_syscall_fields() -> None:
    node = parse("evt.type in (open, openat) and proc.name = cat and fd.name startswith /etc")
    assert check(node, "syscall") == []
    assert callable(compile_condition(node, "syscall"))


def test_real_registry_k8s_audit_fields() -> None:
    node = parse("ka.verb = create and ka.target.resource in (pods) and ka.uri.param[pretty] exists")
    assert check(node, "k8s_audit") == []
    assert check(parse("ka.nosuch = x"), "k8s_audit") == [
        "filter_check called with nonexistent field ka.nosuch"
    ]


def test_every_upstream_k8s_audit_rule_compiles(upstream_rules: Path) -> None:
    items = yaml.load((upstream_rules / "k8s_audit_rules.yaml").read_text(), Loader=yaml.CSafeLoader)
    lists = {i["list"]: i.get("items") or [] for i in items if "list" in i}
    macros = {i["macro"]: parse(substitute_lists(i["condition"], lists)) for i in items if "macro" in i}
    rules = [i for i in items if "rule" in i and "condition" in i]
    for rule in rules:
        node = substitute_macros(parse(substitute_lists(rule["condition"], lists)), macros)
        assert check(node, "k8s_audit") == [], rule["rule"]
        compile_condition(node, "k8s_audit")
    assert len(rules) > 30


@pytest.mark.parametrize(
    "name", ["falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"]
)
def test_every_upstream_syscall_rule_checks_and_compiles(upstream_rules: Path, name: str) -> None:
    items = yaml.load((upstream_rules / name).read_text(), Loader=yaml.CSafeLoader)
    lists = {i["list"]: i.get("items") or [] for i in items if "list" in i}
    macros = {i["macro"]: parse(substitute_lists(i["condition"], lists)) for i in items if "macro" in i}
    rules = [i for i in items if "rule" in i and "condition" in i and i.get("source", "syscall") == "syscall"]
    for rule in rules:
        node = substitute_macros(parse(substitute_lists(rule["condition"], lists)), macros)
        assert check(node, "syscall") == [], rule["rule"]
        compile_condition(node, "syscall")
    assert len(rules) > 20
