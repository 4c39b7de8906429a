"""Upstream Falco rules files and our default ruleset load cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.rules import load_rules

UPSTREAM = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
    "k8s_audit_rules.yaml",
]
DEFAULT = Path(__file__).resolve().parents[3] / "engine" / "default_rules" / "falco_py_rules.yaml"


@pytest.mark.parametrize("name", UPSTREAM)
def test_upstream_file_loads_without_errors(upstream_rules: Path, name: str) -> None:
    res = load_rules([upstream_rules / name])
    assert res.errors == (), [f.to_text("error") for f in res.errors]
    assert res.ruleset is not None and len(res.ruleset.rules) > 10


def test_all_upstream_files_together(upstream_rules: Path) -> None:
    res = load_rules([upstream_rules / n for n in UPSTREAM])
    assert res.successful, [f.to_text("error") for f in res.errors]
    assert set(res.ruleset.sources_used) == {"syscall", "k8s_audit"}


def test_default_ruleset_loads_with_no_warnings() -> None:
    res = load_rules([DEFAULT])
    assert res.successful and res.warnings == (), [f.to_text("w") for f in (*res.errors, *res.warnings)]
    rules = res.ruleset.rules
    assert {r.source for r in rules} == {"syscall", "k8s_audit"}
    for r in rules:
        assert r.desc and r.output and any(t.startswith("mitre_") for t in r.tags), r.name
