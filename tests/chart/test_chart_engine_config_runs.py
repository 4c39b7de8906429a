"""The engine config the chart renders starts the real engine: ``/healthz`` answers, then the process stops cleanly.

Uses the control-plane (audit-log file) role so no kernel access or TLS material is needed; host paths are swapped
for temporary ones, nothing else in the rendered config is changed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
import yaml
from chartutil import CHART, by_kind

from falcoctl_py.helm import Helm
from falcoctl_py.render import render
from falcoctl_py.values import build_values

pytestmark = [pytest.mark.helm, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rendered_auditlog_config_serves_healthz(helm: Helm, tmp_path: Path) -> None:
    engine_pkg = pytest.importorskip("engine")
    pytest.importorskip("engine.config")
    values = build_values(profile="audit-only", values_files=[CHART / "ci" / "rules-values.yaml"])
    (cm,) = [d for d in by_kind(render(values), "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    (rules_cm,) = [
        d for d in by_kind(render(values), "ConfigMap") if d["metadata"]["name"].endswith("-rules")
    ]
    config = yaml.safe_load(cm["data"]["engine-auditlog.yaml"])
    rules_dir = tmp_path / "rules.d"
    rules_dir.mkdir()
    for name, text in rules_cm["data"].items():  # what the rules ConfigMap volume would hold
        (rules_dir / name).write_text(text)
    audit_log = tmp_path / "audit.log"
    audit_log.write_text("")
    port = free_port()
    bundled = Path(engine_pkg.__file__).parent / "default_rules"
    assert config["rules"] == ["/opt/falco-py/share/default-rules", "/etc/falco-py-rules.d"]
    config["rules"] = [str(bundled), str(rules_dir)]
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
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    health = orjson.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.2)
        if health is None:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"engine never answered /healthz (exit {proc.returncode}): {err[-2000:]}")
        assert health["status"] == "ok" and health["ruleset_loaded"] is True
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=15)
    assert proc.returncode in (0, -15), proc.returncode
