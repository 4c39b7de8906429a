"""Matching alerts to tests, as Falco's CI does: by the test id in the process environment, then the rule, then
every declared ``expectedOutcome`` field.

Owns: ``Verdict`` (pass, tolerated, fail) and ``judge``. An alert belongs to a test when its
``proc.env[FALCOPY_VERIFY_TEST_ID]`` output field (added through ``append_output``) is the test's id; it matches
when its rule is the test's rule and ``source``, ``hostname``, ``priority`` (case-insensitive) and each
``outputFields`` entry equal what the test declares (values compared as Falco prints them). A match that holds
only because a field came back missing (``<NA>``) is "tolerated", not passed. A failure names the closest alert's
fields that differ and what they were, or the rules that did fire for the test.

Must not: run tests or read the engine's stream (the runner hands alerts in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from falcoctl_py.verify.chain import TEST_ID_ENV
from falcoctl_py.verify.model import Test

ID_FIELD = f"proc.env[{TEST_ID_ENV}]"
NA = "<NA>"


@dataclass
class Verdict:
    status: str  # pass | tolerated | fail | skipped | error
    detail: str = ""
    mismatches: list[tuple[str, str, str]] = field(default_factory=list)  # (field, expected, got)


def _text(value: Any) -> str:
    if value is None:
        return NA
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def compare(test: Test, alert: dict[str, Any]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(fields that differ, fields that only matched as missing) of one alert of the test's rule."""
    e = test.expected
    wrong: list[tuple[str, str, str]] = []
    missing: list[str] = []
    for key, want, got in (("source", e.source, alert.get("source")), ("hostname", e.hostname,
                                                                       alert.get("hostname"))):
        if want is not None and _text(got) != want:
            wrong.append((key, want, _text(got)))
    if e.priority is not None and _text(alert.get("priority")).lower() != e.priority.lower():
        wrong.append(("priority", e.priority, _text(alert.get("priority"))))
    fields = alert.get("output_fields") or {}
    for key, want in e.output_fields.items():
        got = _text(fields.get(key))
        if got == NA and want != NA:
            missing.append(key)
        elif got != want:
            wrong.append((key, want, got))
    return wrong, missing


def judge(test: Test, test_id: str, alerts: Iterable[dict[str, Any]]) -> Verdict:
    """The verdict for one test from every alert seen so far."""
    mine = [a for a in alerts if _text((a.get("output_fields") or {}).get(ID_FIELD)) == test_id]
    of_rule = [a for a in mine if a.get("rule") == test.rule]
    if not of_rule:
        others = sorted({str(a.get("rule")) for a in mine})
        detail = f"no alert of rule {test.rule!r}" + (f" (fired: {', '.join(others)})" if others else "")
        return Verdict("fail", detail)
    best: tuple[list[tuple[str, str, str]], list[str]] | None = None
    for alert in of_rule:
        wrong, missing = compare(test, alert)
        if not wrong and not missing:
            return Verdict("pass")
        if best is None or (len(best[0]), len(best[1])) > (len(wrong), len(missing)):
            best = (wrong, missing)
    assert best is not None
    wrong, missing = best
    if not wrong:
        return Verdict("tolerated", f"matched only with {', '.join(missing)} = <NA>")
    return Verdict("fail", "closest alert differs",
                   wrong + [(k, test.expected.output_fields[k], NA) for k in missing])
