"""Reports: the JSON follows the documented schema; HTML is self-contained with the promised plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from falcoctl_py.tuning.report import render_markdown, summary_rows, validate, write_reports


def make_doc() -> dict:
    ts = [{"t": float(i), "node": "local", "cpu_cores": 0.1 + i / 100, "rss_bytes": 6e7 + i * 1e5,
           "event_rates": {"k8s_audit": 2000.0 + i, "syscall": 300.0}, "drop_rates": {"k8s_audit": 0.0}}
          for i in range(20)]
    node = {"node": "local", "pool": "default", "intervals": 20, "cpu_cores_p50": 0.15, "cpu_cores_p95": 0.2,
            "cpu_cores_max": 0.21, "rss_bytes_p95": 7e7, "rss_bytes_max": 7.1e7, "cpu_fraction_p95": 0.1,
            "memory_fraction_p95": 0.003, "within_budget": False, "verdict": "CPU p95 10.00% of the node > 2%",
            "event_rates_p95": {"k8s_audit": 2019.0}, "drops_total_rate": 0.0}
    return {
        "schema_version": 1, "generated_at": "2026-11-29T00:00:00Z", "mode": "local", "duration_seconds": 20,
        "engine_version": "0.1.0", "rules_files": ["default"],
        "budget": {"cpu_fraction": 0.02, "memory_fraction": 0.03, "percentile": 95},
        "overhead": {"nodes": [node], "pools": {"default": {"nodes": 1, "cpu_fraction_p95": 0.1,
                                                            "memory_fraction_p95": 0.003, "within_budget": False}}},
        "cost_model": {"schema_version": 1, "cpu_seconds_per_1k_events": {}, "memory": {}},
        "timeseries": ts, "events_per_second": {"k8s_audit": 2010.0, "syscall": 300.0}, "drops_total": 0,
        "noise": {"total_alerts": 1000, "rules": [
            {"rule": "Noisy <Rule>", "source": "k8s_audit", "priority": "Notice", "count": 950, "per_hour": 171000,
             "explanations": [{"fields": ["ka.user.name"], "values": ["system:serviceaccount:ci:bot"],
                               "count": 940, "share": 0.989}]}]},
        "proposals": [{"rule": "Noisy <Rule>", "kind": "exception", "name": "falcopy_tuned_ka_user_name",
                       "fields": ["ka.user.name"], "comps": ["="], "values": [["system:serviceaccount:ci:bot"]],
                       "expected_removed": 940, "share": 0.989, "reason": "99% of 950 alerts", "accepted": True,
                       "refused_because": []}],
        "guard": {"scenarios": [{"name": "s", "expect_rules": ["Noisy <Rule>"], "fired_before": ["Noisy <Rule>"],
                                 "fired_after": ["Noisy <Rule>"]}],
                  "detections_before": 1, "detections_after": 1, "lost": []},
        "verification": {"alerts_before": 1000, "alerts_after": 60, "reduction": 0.94,
                         "per_rule": {"Noisy <Rule>": [950, 10]}},
        "accuracy": {"engine_cpu_seconds": 3.0, "independent_cpu_seconds": 3.1, "method": "cgroup cpu.stat",
                     "relative_error": -0.032},
        "tuner_overhead": {"cpu_seconds": 0.05, "fraction_of_core": 0.0025},
        "files": {"report": "out/report.json"},
    }


def test_schema_accepts_a_full_report_and_rejects_a_broken_one() -> None:
    doc = make_doc()
    validate(doc)
    del doc["guard"]["lost"]
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_html_is_self_contained_with_plots(tmp_path: Path) -> None:
    paths = write_reports(make_doc(), tmp_path)
    html = paths["html"].read_text()
    assert html.count("<svg") >= 5  # CPU, RSS, events/s, noisy rules, per-pool CPU/memory
    for title in ("Engine CPU", "Engine RSS", "Events per second", "Top noisy rules", "against budget"):
        assert title in html
    assert not re.search(r"""(src|href)=["']https?:""", html)
    assert "Noisy &lt;Rule&gt;" in html  # escaped
    assert json.loads(paths["json"].read_text())["verification"]["alerts_after"] == 60


def test_markdown_and_summary_carry_the_key_numbers() -> None:
    doc = make_doc()
    md = render_markdown(doc)
    assert "1,000 → 60" in md and "ka.user.name=system:serviceaccount:ci:bot" in md
    labels = [k for k, _ in summary_rows(doc)]
    assert "guard detections" in labels and "CPU accuracy" in labels
