"""The engine config the chart renders starts the real engine: ``/healthz`` answers, then the process stops cleanly.

Uses the control-plane (audit-log file) role so no kernel access or TLS material is needed; host paths are swapped
for temporary ones, nothing else in the rendered config is changed.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from chartutil import CHART, by_kind
from http_support import free_port

from falcoctl_py.helm import Helm
from falcoctl_py.render import render
from falcoctl_py.values import build_values

pytestmark = [pytest.mark.helm, pytest.mark.slow]


def _start_rendered_auditlog_engine(tmp_path: Path, values: dict[str, Any]) -> tuple[subprocess.Popen[str], int,
                                                                                    Path, dict[str, Any]]:
    """Start ``engine run`` with the control-plane config ``values`` render (host paths swapped for temporary ones);
    return the process, its metrics port, the audit log it follows and the config as rendered."""
    engine_pkg = pytest.importorskip("engine")
    pytest.importorskip("engine.config")
    maps = by_kind(render(values), "ConfigMap")
    (cm,) = [d for d in maps if d["metadata"]["name"].endswith("-config")]
    (rules_cm,) = [d for d in maps if d["metadata"]["name"].endswith("-rules")]
    rendered = yaml.safe_load(cm["data"]["engine-auditlog.yaml"])
    config = copy.deepcopy(rendered)
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    for name, text in rules_cm["data"].items():  # what the rules ConfigMap volume would hold
        (rules_dir / name).write_text(text)
    audit_log = tmp_path / "audit.log"
    audit_log.write_text("")
    port = free_port()
    bundled = Path(engine_pkg.__file__).parent / "default_rules"
    where = {"/opt/falco-py/share/default-rules": str(bundled), "/etc/falco-py-rules.d": str(rules_dir)}
    assert set(config["rules"]) <= set(where) and config["rules"][-1] == "/etc/falco-py-rules.d"
    config["rules"] = [where[path] for path in config["rules"]]
    config["sources"]["k8s_audit"]["file"]["path"] = str(audit_log)
    config["metrics"]["listen"] = f"127.0.0.1:{port}"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "falcoctl_py.cli.main", "engine", "run", "--config", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, port, audit_log, rendered


def _wait_healthy(proc: subprocess.Popen[str], port: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                return orjson.loads(resp.read())  # type: ignore[no-any-return]
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    pytest.fail(f"engine never answered /healthz (exit {proc.returncode}): {err[-2000:]}")


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode in (0, -15), proc.returncode
    return out


def test_rendered_auditlog_config_serves_healthz(helm: Helm, tmp_path: Path) -> None:
    values = build_values(profile="audit-only", values_files=[CHART / "ci" / "rules-values.yaml"])
    proc, port, _log, _config = _start_rendered_auditlog_engine(tmp_path, values)
    try:
        health = _wait_healthy(proc, port)
        assert health["status"] == "ok" and health["ruleset_loaded"] is True
        assert _config["rules"] == ["/opt/falco-py/share/default-rules", "/etc/falco-py-rules.d"]
    finally:
        _stop(proc)


CLUSTER_RULES = """\
rules:
  defaultRules: false
  files:
    cluster-rules.yaml: |
      - rule: Secret read
        desc: any get of a secret
        condition: ka.verb=get and ka.target.resource=secrets
        output: secret %ka.target.name read in cluster %ka.cluster.name
        priority: WARNING
        source: k8s_audit
"""


def test_k8s_audit_cluster_name_reaches_alerts_from_the_rendered_config(helm: Helm, tmp_path: Path) -> None:
    extra = tmp_path / "cluster-values.yaml"
    extra.write_text(CLUSTER_RULES)
    values = build_values(profile="audit-only", values_files=[extra], sets=["k8sAudit.clusterName=prod-eu-1"])
    proc, port, audit_log, rendered = _start_rendered_auditlog_engine(tmp_path, values)
    assert rendered["sources"]["k8s_audit"]["cluster_name"] == "prod-eu-1"
    try:
        _wait_healthy(proc, port)
        event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a1", "stage": "ResponseComplete",
                 "verb": "get", "user": {"username": "alice"},
                 "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db"},
                 "stageTimestamp": "2026-11-29T10:00:00.000001Z"}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the file source starts at the end: write until it has seen a line
            with audit_log.open("ab") as fh:
                fh.write(orjson.dumps(event) + b"\n")
            time.sleep(0.5)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                if b'falcopy_rule_matches_total{rule="Secret read"' in resp.read():
                    break
    finally:
        out = _stop(proc)
    alerts = [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert alerts, out[-2000:]
    assert {a["output_fields"]["ka.cluster.name"] for a in alerts} == {"prod-eu-1"}
    assert alerts[0]["output"].endswith("secret db read in cluster prod-eu-1")
