"""``assume_timed``: a k8s audit condition as it reads for an event not stamped at the epoch (all real traffic).

The upstream rules spell "always" as ``jevt.rawtime exists`` and "never" as ``jevt.rawtime=0``; the index folds
both, so a rule switched off with the never idiom is no candidate at all and one switched on costs nothing.
"""

from __future__ import annotations

import pytest

from engine.condition import ast, parse, to_string
from engine.rules.k8s_audit_index import assume_timed


def folded(text: str) -> str | None:
    node = assume_timed(parse(text))
    return None if node is None else to_string(node)  # type: ignore[arg-type]


@pytest.mark.parametrize(("condition", "expected"), [
    ("jevt.rawtime exists", ""),  # the whole condition holds
    ("jevt.rawtime=0", None),  # cannot hold
    ("json.rawtime != 0", ""),
    ("not jevt.rawtime=0", ""),
    ("ka.verb=create and jevt.rawtime exists", "ka.verb = create"),
    ("ka.verb=create and not (jevt.rawtime=0)", "ka.verb = create"),
    ("ka.verb=create and jevt.rawtime=0", None),
    ("ka.verb=create or jevt.rawtime=0", "ka.verb = create"),
    ("ka.verb=create or jevt.rawtime exists", ""),
    ("ka.verb=create and (ka.user.name=bob or jevt.rawtime=0) and ka.target.resource=pods",
     "(ka.verb = create and ka.user.name = bob and ka.target.resource = pods)"),
])
def test_time_idioms_fold(condition: str, expected: str | None) -> None:
    got = folded(condition)
    if expected == "":
        assert assume_timed(parse(condition)) == ast.And(())
    else:
        assert got == expected


@pytest.mark.parametrize("condition", [
    "jevt.rawtime > 0",  # a real comparison of the time: kept
    "jevt.rawtime = 00",  # not the literal the idiom uses: kept as written
    "jevt.rawtime in (0, 1)",
    "ka.verb=create",
    "jevt.value[/rawtime] = 0",
])
def test_other_conditions_are_left_as_they_are(condition: str) -> None:
    node = parse(condition)
    assert assume_timed(node) is node
