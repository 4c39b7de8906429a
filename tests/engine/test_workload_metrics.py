"""Matches per (rule, namespace, workload): bounded label sets with an 'other' bucket, exported by the real engine
on /metrics beside the unchanged per-rule counter, clean under ``promtool check metrics``, and read by the tuner's
collector."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import yaml

from engine.workload import OTHER, WorkloadCounter, pod_owner, workload_of
from falcoctl_py.tuning.collector import parse_metrics
from falcoctl_py.tuning.local import engine_config, free_port
from falcoctl_py.tuning.scenarios import audit_event

REPO = Path(__file__).resolve().parents[2]


def test_pod_names_map_to_their_workload() -> None:
    assert pod_owner("web-6d9f7c8b5d-x2k9p") == "web"
    assert pod_owner("backup-7c4d9-xk2lp") == "backup"
    assert pod_owner("node-exporter-k2x9q") == "node-exporter"
    assert pod_owner("postgres-0") == "postgres"
    assert pod_owner("standalone") == "standalone"


def test_label_sets_are_bounded_and_overflow_is_counted_as_other() -> None:
    c = WorkloadCounter(per_rule=3, max_series=5)
    for i in range(10):
        ev = SimpleNamespace(source="syscall", container=SimpleNamespace(
            pod_name=f"app{i}-0", pod_namespace="shop", image_repository=None, image=None, id="x"))
        c.add("R", "syscall", ev)
        c.add("R", "syscall", ev)
    snap = c.snapshot()
    assert len(snap) == 4 and snap[("R", "syscall", OTHER, OTHER)] == 14
    assert sum(snap.values()) == 20  # nothing lost
    host = SimpleNamespace(source="syscall", container=None)
    assert workload_of(host) == ("", "host")


def _promtool() -> str | None:
    return shutil.which("promtool") or (str(Path(sys.executable).parent / "promtool")
                                        if (Path(sys.executable).parent / "promtool").exists() else None)


def test_real_engine_exports_per_workload_matches_cleanly(tmp_path: Path) -> None:
    promtool = _promtool()
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool missing: `make test` installs it")
        pytest.skip("promtool missing (make test installs it)")
    webhook, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    cfg = engine_config(rules=[REPO / "engine" / "default_rules" / "falco_py_rules.yaml"], webhook=webhook,
                        metrics=metrics, alerts=tmp_path / "alerts.jsonl", syscall=None)
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "falcoctl_py.cli.main", "engine", "run", "--config",
                             str(tmp_path / "engine.yaml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{metrics}/healthz", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "engine did not start"
                time.sleep(0.2)
        events = [audit_event(n=i, verb="get", user="ci-deployer" if i < 7 else "bob@example.com",
                              resource="secrets", namespace="shop", name="k") for i in range(10)]
        body = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events})
        req = urllib.request.Request(f"http://{webhook}/k8s-audit", data=body,
                                     headers={"Content-Type": "application/json"})
        assert urllib.request.urlopen(req, timeout=5).status == 200
        text = ""
        for _ in range(50):
            text = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=2).read().decode()
            if 'workload="bob@example.com"' in text:
                break
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rule = "FPY Secret Read By Non-System User"
    sample = parse_metrics(text, t=0.0)
    assert sample.matches[rule] == 10  # the per-rule counter is unchanged
    assert sample.workload_matches[(rule, "shop", "ci-deployer")] == 7
    assert sample.workload_matches[(rule, "shop", "bob@example.com")] == 3
