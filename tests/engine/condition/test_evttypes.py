"""Event-type set algebra (what a syscall rule must be indexed under)."""

from __future__ import annotations

import pytest

from engine.condition import evttypes, parse

ALL = frozenset({"open", "openat", "execve", "connect", "close"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evt.type = open", {"open"}),
        ("evt.type == open", {"open"}),
        ("evt.type in (open, openat) and proc.name = x", {"open", "openat"}),
        ("evt.type != open", ALL - {"open"}),
        ("not evt.type = open", ALL - {"open"}),
        ("not evt.type in (open, close)", ALL - {"open", "close"}),
        ("proc.name = x", ALL),
        ("not proc.name = x", ALL),
        ("evt.type = open or proc.name = x", ALL),
        ("evt.type = open or evt.type = close", {"open", "close"}),
        ("evt.type = open and evt.type = close", set()),
        ("not (evt.type = open and proc.name = x)", ALL),
        ("not (evt.type = open or evt.type = execve)", ALL - {"open", "execve"}),
        ("not not evt.type = open", {"open"}),
        ("evt.type = nosuchtype", set()),
        ("evt.type startswith open", ALL),
        ("evt.type exists", ALL),
        ("some_macro and evt.type = open", {"open"}),
        ("(evt.type = open and not evt.type = open)", set()),
        ("evt.num = 0", set()),
        ("evt.num = 0 or evt.type = open", {"open"}),
        ("not evt.num = 0", ALL),
        ("evt.num = 00", ALL),
        ("evt.num > 0", ALL),
    ],
)
def test_evttypes(text: str, expected: set[str]) -> None:
    assert evttypes(parse(text), ALL) == frozenset(expected)
