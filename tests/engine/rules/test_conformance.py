"""Conformance cases from the shared corpus: rules validation (files) and loader semantics (inline rules).

Each case is one named test. Case files are read from ``../shared`` (see ``tests/conftest.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared_material import require_shared, shared_dir

from engine.rules import Finding, load_rules


def _cases(*parts: str) -> list[Any]:
    base = shared_dir()
    path = base.joinpath(*parts) if base else None
    if path is None or not path.exists():
        return [pytest.param(None, id="corpus-missing")]
    cases = yaml.safe_load(path.read_text())["cases"]
    return [pytest.param(c, id=c["name"]) for c in cases]


def _matches(f: Finding, want: dict[str, Any]) -> bool:
    return all(getattr(f, key) == want[key] for key in ("code", "item_type", "item_name") if key in want)


_QUOTED = re.compile(r"'[^']*'")
_WORD = re.compile(r"[a-z][a-z0-9_.<>-]{3,}")


def _same_message(ours: str, upstream: str) -> bool:
    """Whether our message says what the corpus's does. The corpus allows other wording for the same item and
    problem (its README): upstream's words changed between releases while the regression suite kept older
    ones. So: the same text, or one that keeps every quoted name of the expected message and most of its
    words (at least two in three of those longer than three letters)."""
    if ours == upstream:
        return True
    if any(q not in ours for q in _QUOTED.findall(upstream)):
        return False
    words = set(_WORD.findall(upstream.lower()))
    have = {w for w in words if w in ours.lower()}
    return bool(words) and 3 * len(have) >= 2 * len(words)


@pytest.mark.parametrize("case", _cases("conformance", "rules-validation", "cases.yaml"))
def test_rules_validation(case: dict[str, Any] | None) -> None:
    folder = require_shared("conformance", "rules-validation")
    assert case is not None
    result = load_rules([folder / f for f in case["rules_files"]])
    assert result.successful is case["expect_ok"], [f.to_dict() for f in result.errors]
    if not case["expect_ok"]:
        assert result.ruleset is None
    for want in case.get("expect", []):
        pool = result.errors if want["kind"] == "error" else result.warnings
        hits = [f for f in pool if _matches(f, want)]
        assert hits, f"no {want} among {[f.to_dict() for f in pool]}"
        if "message" in want and want.get("code") not in ("LOAD_ERR_YAML_PARSE",):
            # Our words follow Falco's for these findings; the YAML parser's own wording differs (libyaml).
            assert any(_same_message(f.message, want["message"]) for f in hits), [f.message for f in hits]
    if case.get("expect_no_warnings"):
        assert not result.warnings


# Some upstream cases are snippets meant to be appended to a rule header (the unit test adds one); the
# corpus keeps only the snippet, so we supply the header the upstream test used.
_SNIPPET_HEADER = """- rule: test_rule
  desc: test rule
  condition: evt.type = open
  output: command=%proc.cmdline
  priority: INFO
"""


def _rules_text(case: dict[str, Any]) -> str:
    text: str = case["rules"]
    first = next((line for line in text.splitlines() if line.strip()), "")
    return _SNIPPET_HEADER + text if first.startswith(" ") else text


@pytest.mark.parametrize("case", _cases("conformance", "loader-semantics", "cases.yaml"))
def test_loader_semantics(case: dict[str, Any] | None) -> None:
    require_shared("conformance", "loader-semantics")
    assert case is not None
    result = load_rules([(f"{case['name']}.yaml", _rules_text(case))])
    errors = [f.message for f in result.errors]
    warnings = [f.message for f in result.warnings]
    assert result.successful is case["expect_ok"], errors
    for text in case.get("errors_contain", []):
        assert any(text in m for m in errors), (text, errors)
    for text in case.get("warnings_contain", []):
        assert any(text in m for m in warnings), (text, warnings)
    for text in case.get("errors_not_contain", []):
        assert not any(text in m for m in errors), (text, errors)
    for text in case.get("warnings_not_contain", []):
        assert not any(text in m for m in warnings), (text, warnings)
    if case.get("expect_warnings"):
        assert warnings
    if case.get("expect_no_warnings"):
        assert not warnings, warnings
    expected = case.get("compiled_conditions") or {}
    if expected:
        assert result.ruleset is not None
        by_name = {r.name: r for r in result.ruleset.rules}
        for name, want in expected.items():
            rule = by_name[name] if name else next(iter(by_name.values()))
            assert rule.condition_compiled == want


def test_same_message_accepts_rewording_but_not_another_problem() -> None:
    upstream = "List has 'append' key but no list by that name already exists"
    assert _same_message("List uses 'append' or 'override.items: append' but no list by that name already exists", upstream)
    assert not _same_message("Rule has been re-defined with a different source", upstream)
    assert not _same_message("Undefined macro 'bar' used in filter.", "Undefined macro 'foo' used in filter.")
    assert not _same_message("Item has no mapping for key 'items'", "Mapping for key 'list' is empty")
    assert _same_message("Mapping for key 'list' is empty", "Mapping for key 'list' is empty")


def test_corpus_is_present() -> None:
    assert Path(require_shared("conformance", "loader-semantics", "cases.yaml")).is_file()
