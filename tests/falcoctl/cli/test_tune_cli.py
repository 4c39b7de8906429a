"""``falcoctl-py tune --local`` end to end: a real engine subprocess, real loopback HTTP, real cgroup accounting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from falcoctl_py.tuning.cpuaccount import cgroup2_root
from falcoctl_py.tuning.report import validate


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tune") / "out"
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--duration", "8",
                           "--out", str(out), "-o", "json"], capture_output=True, text=True, check=False, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, json.loads(proc.stdout)


def test_writes_every_artifact(tuned: tuple[Path, dict]) -> None:
    out, doc = tuned
    for name in ("report.json", "report.md", "report.html", "tuned-rules.yaml", "cost-model.json", "values.yaml",
                 "manifests.yaml"):
        assert (out / name).stat().st_size > 0, name
    validate(json.loads((out / "report.json").read_text()))
    assert doc["events_per_second"]["k8s_audit"] > 100 and doc["events_per_second"]["syscall"] > 100
    assert doc["feed"]["rejected"] == 0 and doc["drops_total"] == 0


def test_engine_cpu_agrees_with_its_cgroup(tuned: tuple[Path, dict]) -> None:
    _, doc = tuned
    if cgroup2_root() is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    acc = doc["accuracy"]
    assert acc["method"].startswith("engine cgroup")
    assert abs(acc["relative_error"]) <= 0.15, acc


def test_sampling_costs_under_one_percent_of_a_core(tuned: tuple[Path, dict]) -> None:
    _, doc = tuned
    assert 0 < doc["tuner_overhead"]["fraction_of_core"] < 0.01


def test_tuned_rules_load_on_top_of_the_base_and_keep_detections(tuned: tuple[Path, dict]) -> None:
    out, doc = tuned
    base = Path(__file__).resolve().parents[3] / "engine" / "default_rules" / "falco_py_rules.yaml"
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "rules", "validate", "--rules", str(base),
                           "--rules", str(out / "tuned-rules.yaml")], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["guard"]["lost"] == [] and doc["guard"]["detections_after"] == doc["guard"]["detections_before"]
    assert doc["verification"]["alerts_after"] < doc["verification"]["alerts_before"]


def test_options_for_the_cluster_are_refused_locally(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--apply", "--out",
                           str(tmp_path)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2 and "--apply" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_profile_fails_before_measuring(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--profile", "nope",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 2 and "unknown profile 'nope'" in proc.stderr
    assert not (tmp_path / "out").exists()  # no engine was started, nothing written


@pytest.mark.parametrize(("args", "needle"), [
    (["--duration", "nan"], "not a number of seconds"),
    (["--duration", "inf"], "5<=x<=86400"),
    (["--out", "/proc/falcopy-no-such-dir"], "cannot create output directory"),
])
def test_bad_input_fails_before_measuring(args: list[str], needle: str, tmp_path: Path) -> None:
    argv = ["tune", "--local", "--out", str(tmp_path / "out"), *args]
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", *argv], capture_output=True, text=True,
                          check=False, timeout=30)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_broken_rules_are_reported_with_their_location_before_measuring(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: r1\n  desc: d\n  condition: evt.type = open and (\n  output: o\n  priority: INFO\n")
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--rules", str(bad),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 1
    assert f"{bad}:3:14: LOAD_ERR_COMPILE_CONDITION rule 'r1'" in proc.stderr


def test_engine_start_failure_names_the_engine_error(tmp_path: Path) -> None:
    from falcoctl_py.tuning.local import last_error

    log = tmp_path / "engine.log"
    log.write_text('{"level":"info","msg":"loading"}\n{"level":"error","msg":"metrics.listen: address in use"}\n'
                   '{"level":"info","msg":"bye"}\n')
    assert last_error(log) == "metrics.listen: address in use"


def test_upstream_audit_rules_are_tuned_without_allow_unguarded(tmp_path: Path, upstream_rules: Path) -> None:
    import orjson

    from tests.falcoctl.tuning.test_upstream_audit_tuning import NEAR_MISSES, noisy_stream

    stream = tmp_path / "busy-cluster.jsonl"
    stream.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in noisy_stream()))
    attacks = tmp_path / "attacks.jsonl"  # the user's own recorded attacks, for --guard
    attacks.write_bytes(b"".join(orjson.dumps(raw) + b"\n" for _, raw in NEAR_MISSES.values()))
    rules = upstream_rules / "k8s_audit_rules.yaml"
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--duration", "6",
                           "--rules", str(rules), "--audit-events", str(stream), "--guard", str(attacks),
                           "--out", str(out), "-o", "json"], capture_output=True, text=True, check=False, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    accepted = {p["rule"] for p in doc["proposals"] if p["accepted"] and p["kind"] == "exception"}
    assert {"Attach/Exec Pod", "K8s Secret Get Successfully", "Create Privileged Pod"} <= accepted
    assert doc["guard"]["unguarded"] == 0 and doc["guard"]["lost"] == []
    assert sum(1 for sc in doc["guard"]["scenarios"] if sc["provenance"].startswith("--guard")) == len(NEAR_MISSES)
    assert doc["verification"]["reduction"] >= 0.9, doc["verification"]
    check = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "rules", "validate", "--rules", str(rules),
                            "--rules", str(out / "tuned-rules.yaml")], capture_output=True, text=True, check=False,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_bad_guard_file_is_refused_before_the_window(tmp_path: Path) -> None:
    bad = tmp_path / "attacks.jsonl"
    bad.write_text("not json\n")
    proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--guard", str(bad),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 1 and "attacks.jsonl" in proc.stderr and "Traceback" not in proc.stderr
