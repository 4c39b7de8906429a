"""Canonical printer: Falco's printed form (checked against the loader-semantics conformance cases) and
round-trips ``parse(to_string(x)) == x``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.condition import parse, substitute_macros, to_string


def _compiled_conditions(conformance: Path) -> list[str]:
    cases = yaml.safe_load((conformance / "loader-semantics" / "cases.yaml").read_text())["cases"]
    return [text for case in cases for text in (case.get("compiled_conditions") or {}).values()]


def test_falco_printed_forms_are_fixed_points(conformance: Path) -> None:
    texts = _compiled_conditions(conformance)
    assert len(texts) >= 10
    for text in texts:
        assert to_string(parse(text)) == text


def test_condition_append_case_prints_like_falco() -> None:
    macro = parse(
        "((proc.aname=sshd and proc.name != sshd) or\nproc.name=systemd-logind or proc.name=login)\n"
        " or proc.name = ssh"
    )
    rule = substitute_macros(parse("evt.type=open and interactive"), {"interactive": macro})
    assert to_string(rule) == (
        "(evt.type = open and (((proc.aname = sshd and proc.name != sshd) or "
        "proc.name = systemd-logind or proc.name = login) or proc.name = ssh))"
    )


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("evt.type=open", "evt.type = open"),
        ("evt.type in (open,openat)", "evt.type in (open, openat)"),
        ("not  proc.name=x", "not proc.name = x"),
        ("not (a and b)", "not (a and b)"),
        ("a and (b or c)", "(a and (b or c))"),
        ("fd.name exists", "fd.name exists"),
        ("proc.name = 'a b'", 'proc.name = "a b"'),
        ("proc.name = 'say \"x\"'", 'proc.name = "say \\"x\\""'),
        ('proc.name = "tab\\there"', 'proc.name = "tab\\there"'),
        ("proc.name startswith oneof (a,b)", "proc.name startswith oneof (a, b)"),
        ("proc.aname[2]=x", "proc.aname[2] = x"),
        ("jevt.value['/a b']=x", 'jevt.value["/a b"] = x'),
        ("tolower( proc.name )=x", "tolower(proc.name) = x"),
        ("proc.name=val(proc.pname)", "proc.name = val(proc.pname)"),
        ("concat(proc.name,'-',proc.pname)=x", "concat(proc.name, -, proc.pname) = x"),
        ("proc.name in ()", "proc.name in ()"),
        ("proc.name = ''", 'proc.name = ""'),
        ("proc.name in ('a,b', 'c(d)', 'e=f')", 'proc.name in ("a,b", "c(d)", "e=f")'),
    ],
)
def test_printed_form(text: str, printed: str) -> None:
    node = parse(text)
    assert to_string(node) == printed
    assert parse(printed) == node


def test_round_trip_over_upstream_rules(upstream_rules: Path) -> None:
    from engine.condition import substitute_lists

    count = 0
    for path in sorted(upstream_rules.glob("*.yaml")):
        items = yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or []
        lists = {i["list"]: i.get("items") or [] for i in items if "list" in i}
        for item in items:
            if "condition" in item and ("rule" in item or "macro" in item):
                node = parse(substitute_lists(item["condition"], lists))
                assert parse(to_string(node)) == node, item.get("rule") or item.get("macro")
                count += 1
    assert count > 300
