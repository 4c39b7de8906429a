"""Small helpers shared by the rules tests (not a test module)."""

from __future__ import annotations

from engine.rules import LoadResult, load_rules

HEADER = "- rule: base\n  desc: d\n  condition: evt.type = open\n  output: o %proc.name\n  priority: INFO\n"


def load(*texts: str) -> LoadResult:
    """Load inline rules files named f0.yaml, f1.yaml, ..."""
    return load_rules([(f"f{i}.yaml", t) for i, t in enumerate(texts)])


def codes(findings: tuple) -> list[str]:
    return [f.code for f in findings]


def rule(result: LoadResult, name: str):
    assert result.ruleset is not None, [f.to_dict() for f in result.errors]
    return next(r for r in result.ruleset.rules if r.name == name)
