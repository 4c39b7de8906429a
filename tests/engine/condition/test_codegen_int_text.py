"""The ``int_text`` extractor hook: a text field that renders an integer compares with literals as an integer,
with exactly the results of comparing the rendered text (``jevt.rawtime`` is the real field that uses it)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from engine.condition import compile_condition, parse
from engine.fields.base import FieldSpec, FieldType


class _Event:
    source = "k8s_audit"

    def __init__(self, ts: int) -> None:
        self.ts = ts
        self.cache: dict[Any, Any] = {}
        self.obj: dict[str, Any] = {}


def _rendered(event: Any, arg: Any) -> str:
    return str(event.ts)


def _hooked(event: Any, arg: Any) -> str:
    return str(event.ts)


_hooked.int_text = lambda arg, event: f"{event}.ts"  # type: ignore[attr-defined]

TABLE = {
    "t.plain": FieldSpec("t.plain", FieldType.STRING, extract=_rendered),
    "t.hooked": FieldSpec("t.hooked", FieldType.STRING, extract=_hooked),
}
LITERALS = ["0", "00", "-0", "+0", "5", "05", "+5", "-5", " 5", "5 ", "1_0", "10", "1.0", "x", "",
            "1540476552123456000", "-1540476552123456000"]
CONDITIONS = ["{f} = {a}", "{f} != {a}", "not {f} = {a}", "{f} in ({a}, {b})", "{f} in ({a})",
              "{f} exists", "not {f} exists", "{f} = {a} or {f} = {b}", "{f} startswith {a}"]


def _compile(text: str) -> Any:
    return compile_condition(parse(text), "k8s_audit", fields=TABLE)


def _quoted(text: str) -> str:
    return f'"{text}"'


@pytest.mark.parametrize("template", CONDITIONS)
def test_hooked_field_agrees_with_the_rendered_text(template: str) -> None:
    rng = random.Random(template)
    stamps = [0, 5, -5, 10, 1540476552123456000, -1540476552123456000, *(rng.randrange(-10**19, 10**19)
                                                                         for _ in range(20))]
    for a in LITERALS:
        for b in rng.sample(LITERALS, 3):
            plain = _compile(template.format(f="t.plain", a=_quoted(a), b=_quoted(b)))
            hooked = _compile(template.format(f="t.hooked", a=_quoted(a), b=_quoted(b)))
            for ts in [*stamps, int(a) if a.strip().lstrip("+-").isdigit() else 7]:
                event = _Event(ts)
                assert hooked(event) is plain(event), (template, a, b, ts)


def test_equality_becomes_an_integer_comparison() -> None:
    source = _compile("t.hooked = 0").__condition_source__
    assert "e.ts == 0" in source and "str(" not in source
    assert "False" in _compile("t.hooked = 00").__condition_source__  # never the text of an int: constant
    assert "e.ts != 5" in _compile("t.hooked != 5").__condition_source__


def test_jevt_rawtime_compares_as_the_event_time() -> None:
    from engine.fields import fields_for_source

    fields = fields_for_source("k8s_audit")
    event = _Event(1540476552123456000)
    for text, want in [("jevt.rawtime = 1540476552123456000", True), ("jevt.rawtime = 0", False),
                       ("jevt.rawtime != 0", True), ("jevt.rawtime exists", True),
                       ("jevt.rawtime in (1, 1540476552123456000)", True),
                       ("jevt.rawtime = 01540476552123456000", False),
                       ("jevt.rawtime startswith 154", True)]:
        fn = compile_condition(parse(text), "k8s_audit", fields=fields)
        assert fn(event) is want, text
    assert "e.ts == 0" in compile_condition(parse("jevt.rawtime = 0"), "k8s_audit",
                                            fields=fields).__condition_source__
