"""The engine service in tests: a one-verb k8s audit rule, audit events, and talking to a running service.

Owns: ``RULE`` (a rules file of one rule on ``ka.verb``, ``.format(name=, verb=)``), ``audit(i, verb)`` (a
complete audit Event numbered ``i``), ``config(tmp_path)`` (a service config: webhook and metrics on free loopback
ports, alerts to a file, fast reload), ``request`` (one HTTP request to a port), ``metric`` and
``build_checksum`` (read from ``/metrics``) and ``wait_for`` (poll a condition). Used by the service, reload and
OCI follower tests.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

RULE = """\
- rule: {name}
  desc: test rule
  condition: ka.verb = {verb}
  output: "{verb} of %ka.target.resource by %ka.user.name"
  priority: WARNING
  source: k8s_audit
"""


def audit(i: int, verb: str = "create") -> dict[str, Any]:
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "auditID": f"id-{i}",
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": "alice"},
        "objectRef": {"resource": "pods", "namespace": "default"},
        "stageTimestamp": f"2026-01-01T00:00:{i % 60:02d}.000001Z",
        "requestReceivedTimestamp": "2026-01-01T00:00:00Z",
    }


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def metric(port: int, family: str) -> dict[tuple[tuple[str, str], ...], float]:
    _, body = request(port, "GET", "/metrics")
    for fam in text_string_to_metric_families(body.decode()):
        if fam.name == family:
            return {
                tuple(sorted(s.labels.items())): s.value for s in fam.samples if s.name.endswith("_total")
            }
    return {}


def build_checksum(port: int) -> str:
    _, body = request(port, "GET", "/metrics")
    for fam in text_string_to_metric_families(body.decode()):
        if fam.name == "falcopy_build_info":
            return str(fam.samples[0].labels["rules_checksum"])
    raise AssertionError("falcopy_build_info missing")


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    rules = tmp_path / "rules.yaml"
    if not rules.exists():
        rules.write_text(RULE.format(name="Creates", verb="create"))
    return {
        "rules": [str(rules)],
        "log_level": "warning",
        "sources": {"k8s_audit": {"webhook": {"listen": "127.0.0.1:0"}}},
        "outputs": {"stdout": {"enabled": False}, "file": {"path": str(tmp_path / "alerts.json")}},
        "metrics": {"listen": "127.0.0.1:0"},
        "reload": {"interval": 0.05},
        **extra,
    }
