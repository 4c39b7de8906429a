"""Every k8s audit conformance case (from Falco's regression suite), one named test each.

A case loads its rules files in order, replays its audit events file through the engine (first match, as Falco
does by default) and compares the alerts with the case's expectations; see the header of ``cases.yaml``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import shared_material as SHARED  # tests/ is on pytest's pythonpath
import yaml

from engine.priority import Priority
from engine.runtime import Engine
from engine.sources.replay import ReplayError, replay


def _cases() -> list[Any]:
    base = SHARED.shared_dir()
    path = base / "conformance" / "k8saudit" / "cases.yaml" if base else None
    if path is None or not path.is_file():
        return [pytest.param(None, id="cases.yaml-missing")]
    cases = yaml.safe_load(path.read_text())["cases"]
    return [pytest.param(case, id=case["name"]) for case in cases]


def run_case(case: dict[str, Any], folder: Path) -> tuple[list[Any], str | None]:
    """(alerts, error message or None) for one case."""
    from engine.rules import load_rules

    result = load_rules([folder / f for f in case["rules_files"]])
    if not result.successful or result.ruleset is None:
        return [], "; ".join(f"{e.code} {e.item_type} {e.item_name}: {e.message}" for e in result.errors)
    engine = Engine(result.ruleset)
    try:
        alerts = [a for event in replay(folder / case["events"]) for a in engine.process(event)]
    except ReplayError as exc:
        return [], str(exc)
    return alerts, None


@pytest.mark.parametrize("case", _cases())
def test_case(case: dict[str, Any] | None) -> None:
    folder = SHARED.require_shared("conformance", "k8saudit")
    assert case is not None
    alerts, error = run_case(case, folder)
    if "expect_error_regex" in case:
        assert error is not None, "expected loading or reading to fail"
        assert re.search(case["expect_error_regex"], error), error
        return
    assert error is None, error
    counts = Counter(a.rule for a in alerts)
    for rule, n in (case.get("expect_rule_counts") or {}).items():
        assert counts[rule] == n, f"{rule}: {counts[rule]} alerts, expected {n} (all: {dict(counts)})"
    present = {a.priority for a in alerts}
    for prio in case.get("expect_priorities_present") or ():
        assert Priority.parse(prio) in present, f"no {prio} alert among {sorted(p.name for p in present)}"
    if case.get("expect_any"):
        assert alerts, "expected at least one alert"
    if case.get("expect_none"):
        assert not alerts, f"expected no alerts, got {dict(counts)}"
    if "expect_total" in case:
        assert len(alerts) == case["expect_total"], dict(counts)
    for alert in alerts:  # every alert is complete Falco JSON
        doc = alert.to_dict()
        assert doc["source"] == "k8s_audit" and doc["time"].endswith("Z") and doc["output"]
