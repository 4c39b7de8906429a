"""Metrics: names and labels scraped over HTTP and parsed with prometheus_client's parser; /healthz states."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

import engine
from engine.metrics import EngineCollector, MetricsServer
from engine.outputs.alert import Alert
from engine.outputs.queue import OutputQueue
from engine.priority import Priority
from engine.sources.k8s_audit.webhook import WebhookSource
from engine.testing.audit_synth import synth_lines


class FakeEngine:
    def stats(self) -> dict[str, Any]:
        return {
            "events_total": {"k8s_audit": 12, "syscall": 3},
            "matches_total": {("Create Privileged Pod", "Warning", "k8s_audit"): 2},
            "errors_total": {"k8s_audit": 1},
            "rules_checksum": "abc123",
        }


class FakeReloader:
    def stats(self) -> dict[str, Any]:
        return {"reloads": {"success": 2, "failure": 1}}


class Sink:
    name = "stuck"

    def write(self, a: Any) -> None:
        time.sleep(10)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def get(port: int, path: str) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, body, resp.headers.get("Content-Type", "")


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, WebhookSource, dict[str, Any]]]:
    hook = WebhookSource(listen="127.0.0.1:0", max_event_bytes=10)
    hook.open()
    queue = OutputQueue([Sink()], queue_size=1, log_interval=60)
    state: dict[str, Any] = {"ok": True}
    collector = EngineCollector(engine=FakeEngine(), sources=[hook], outputs=queue, reloader=FakeReloader())
    server = MetricsServer(
        collector,
        listen="127.0.0.1:0",
        health=lambda: (state["ok"], {"status": "ok" if state["ok"] else "no ruleset"}),
    )
    server.start()
    for i in range(3):
        queue.emit(Alert(rule="r", priority=Priority.NOTICE, source="k8s_audit", ts=i, output="o"))
    yield server, hook, state
    server.stop()
    hook.stop()


def families(body: bytes) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def samples(fam: Any, suffix: str = "_total") -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in fam.samples if s.name.endswith(suffix)}


def test_required_metrics_names_labels_and_values(served: Any) -> None:
    server, hook, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=5)
    conn.request(
        "POST", "/k8s-audit", body=synth_lines(1, seed=1)[0], headers={"Content-Type": "application/json"}
    )
    assert conn.getresponse().status == 200  # its one event is over 10 bytes: dropped
    conn.close()
    status, body, ctype = get(server.port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    fams = families(body)
    info = fams["falcopy_build_info"].samples[0]
    assert info.name == "falcopy_build_info"
    assert info.labels == {
        "version": engine.__version__,
        "engine_version": engine.FALCO_ENGINE_VERSION,
        "rules_checksum": "abc123",
    }
    assert samples(fams["falcopy_events"]) == {(("source", "k8s_audit"),): 12, (("source", "syscall"),): 3}
    assert samples(fams["falcopy_rule_matches"]) == {
        (("priority", "Warning"), ("rule", "Create Privileged Pod"), ("source", "k8s_audit")): 2
    }
    drops = samples(fams["falcopy_drops"])
    assert drops[(("reason", "event_too_large"), ("source", "k8s_audit"))] == 1
    assert drops[(("reason", "evaluation_error"), ("source", "k8s_audit"))] == 1
    assert drops[(("reason", "output_queue_full"), ("source", "k8s_audit"))] >= 1
    assert samples(fams["falcopy_rules_reload"]) == {(("result", "success"),): 2, (("result", "failure"),): 1}
    assert fams["falcopy_cpu_seconds"].samples[0].value > 0
    assert fams["falcopy_rss_bytes"].samples[0].value > 10 << 20
    hist = {
        s.labels.get("le"): s.value
        for s in fams["falcopy_webhook_request_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert hist["+Inf"] == 1
    assert samples(fams["falcopy_webhook_requests"]) == {(("status", "200"),): 1}
    assert "falcopy_output_queue_depth" in fams and "falcopy_intake_depth" in fams


def test_rejected_webhook_requests_are_counted_by_reason(served: Any) -> None:
    server, hook, _ = served
    event = synth_lines(1, seed=1)[0]
    cases: list[tuple[str, str, bytes, dict[str, str], int]] = [
        ("POST", "/k8s-audit", b"{not json", {"Content-Type": "application/json"}, 400),
        ("POST", "/k8s-audit", b"", {"Content-Length": str(13 << 20)}, 413),
        ("POST", "/k8s-audit", event, {"Content-Type": "text/plain"}, 415),
        ("GET", "/k8s-audit", b"", {}, 405),
        ("POST", "/elsewhere", event, {"Content-Type": "application/json"}, 404),
        ("POST", "/elsewhere", event, {"Content-Type": "application/json"}, 404),
    ]
    for method, path, body, headers, status in cases:
        conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=5)
        if status == 413:  # refused from its Content-Length alone, before any body is sent
            conn.putrequest(method, path)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", headers["Content-Length"])
            conn.endheaders()
        else:
            conn.request(method, path, body=body or None, headers=headers)
        assert conn.getresponse().status == status
        conn.close()
    fams = families(get(server.port, "/metrics")[1])
    assert samples(fams["falcopy_webhook_requests_rejected"]) == {
        (("reason", "malformed_json"), ("status", "400")): 1,
        (("reason", "body_too_large"), ("status", "413")): 1,
        (("reason", "unsupported_content_type"), ("status", "415")): 1,
        (("reason", "method_not_allowed"), ("status", "405")): 1,
        (("reason", "not_found"), ("status", "404")): 2,
    }
    assert samples(fams["falcopy_webhook_requests"]) == {
        (("status", "400"),): 1,
        (("status", "404"),): 2,
        (("status", "405"),): 1,
        (("status", "413"),): 1,
        (("status", "415"),): 1,
    }


def test_healthz_and_unknown_path(served: Any) -> None:
    server, _, state = served
    status, body, _ = get(server.port, "/healthz")
    assert status == 200 and orjson.loads(body)["status"] == "ok"
    state["ok"] = False
    status, body, _ = get(server.port, "/healthz")
    assert status == 503 and orjson.loads(body)["status"] == "no ruleset"
    assert get(server.port, "/nope")[0] == 404


def test_a_broken_stats_does_not_break_the_scrape() -> None:
    class Broken:
        name = "k8s_audit"

        def stats(self) -> dict[str, Any]:
            raise RuntimeError("boom")

    server = MetricsServer(EngineCollector(engine=Broken(), sources=[Broken()]), listen="127.0.0.1:0")
    fams = families(server.scrape())
    assert fams["falcopy_build_info"].samples[0].labels["rules_checksum"] == ""
    assert samples(fams["falcopy_rules_reload"]) == {(("result", "success"),): 0, (("result", "failure"),): 0}
    server.stop()
