"""Service: the assembled engine over real loopback HTTP — alerts reach outputs, metrics, reload, health, and a
real ``falcoctl-py engine run --config`` subprocess that flushes its outputs on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from http_support import free_port
from service_support import RULE, audit, build_checksum, config, metric, request, wait_for

from engine.config import validate_config
from engine.service import Service, serve
from engine.sources.base import SourceStats


def test_events_to_alerts_metrics_reload_and_drain(tmp_path: Path) -> None:
    svc = Service(validate_config(config(tmp_path)))
    svc.start()
    hook, mport = svc.sources[0].port, svc.metrics.port
    try:
        assert wait_for(lambda: request(mport, "GET", "/healthz")[0] == 200)
        batch = [audit(i, "create" if i % 4 == 0 else "get") for i in range(40)]
        status, body = request(hook, "POST", "/k8s-audit", orjson.dumps(batch))
        assert (status, orjson.loads(body)) == (200, {"accepted": 40, "dropped": 0})
        assert wait_for(lambda: metric(mport, "falcopy_events") == {(("source", "k8s_audit"),): 40})
        assert metric(mport, "falcopy_rule_matches") == {
            (("priority", "Warning"), ("rule", "Creates"), ("source", "k8s_audit")): 10
        }

        (tmp_path / "rules.yaml").write_text("- rule: Broken\n  condition: ka.verb =\n")
        assert wait_for(lambda: metric(mport, "falcopy_rules_reload").get((("result", "failure"),)) == 1)
        request(hook, "POST", "/k8s-audit", orjson.dumps(audit(100)))  # old rules still fire
        assert wait_for(lambda: sum(metric(mport, "falcopy_rule_matches").values()) == 11)
        health = orjson.loads(request(mport, "GET", "/healthz")[1])
        assert health["status"] == "ok" and "error(s) loading" in health["last_reload_error"]
        before = build_checksum(mport)

        (tmp_path / "rules.yaml").write_text(RULE.format(name="Deletes", verb="delete"))
        assert wait_for(lambda: metric(mport, "falcopy_rules_reload").get((("result", "success"),)) == 1)
        assert build_checksum(mport) not in ("", before)  # build_info follows the running ruleset
        request(hook, "POST", "/k8s-audit", orjson.dumps([audit(200, "delete"), audit(201)]))
        assert wait_for(lambda: sum(metric(mport, "falcopy_rule_matches").values()) == 12)
    finally:
        assert svc.shutdown()
    lines = (tmp_path / "alerts.json").read_bytes().splitlines()
    assert orjson.loads(lines[-1])["rule"] == "Deletes"
    lines = lines[:-1]
    assert len(lines) == 11 and orjson.loads(lines[0])["rule"] == "Creates"
    assert orjson.loads(lines[0])["output_fields"]["ka.user.name"] == "alice"


def test_serve_refuses_bad_config_and_bad_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert serve({"rules": ["x.yaml"], "sources": {"k8s_audit": {"webhook": {"lisen": ":1"}}}}) == 1
    assert "sources.k8s_audit.webhook.lisen: unknown key" in caplog.text
    (tmp_path / "rules.yaml").write_text("- rule: Broken\n  condition: ka.verb =\n")
    assert serve(config(tmp_path)) == 1
    assert "rules failed to load" in caplog.text


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cfg = config(tmp_path)
    cfg["sources"]["k8s_audit"]["webhook"]["listen"] = f"127.0.0.1:{busy.getsockname()[1]}"
    from engine.service import ServiceError

    with pytest.raises(
        ServiceError, match=r"sources.k8s_audit.webhook \(127.0.0.1:\d+\): Address already in use"
    ):
        Service(validate_config(cfg))
    busy.close()


def test_cli_subprocess_flushes_outputs_on_sigterm(tmp_path: Path) -> None:
    hook, mport = free_port(), free_port()
    cfg = config(tmp_path)
    cfg["sources"]["k8s_audit"]["webhook"]["listen"] = f"127.0.0.1:{hook}"
    cfg["metrics"]["listen"] = f"127.0.0.1:{mport}"
    cfg["outputs"] = {"stdout": {"format": "json"}, "file": {"path": str(tmp_path / "alerts.json")}}
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump(cfg))
    exe = Path(sys.executable).with_name("falcoctl-py")
    proc = subprocess.Popen(
        [str(exe), "engine", "run", "--config", str(tmp_path / "engine.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "0"},
    )
    try:

        def up() -> bool:
            try:
                return request(mport, "GET", "/healthz")[0] == 200
            except OSError:
                return False

        assert wait_for(up, timeout=20), proc.stderr.read1().decode() if proc.poll() is not None else "not up"
        for start in range(0, 2000, 400):
            batch = [audit(i) for i in range(start, start + 400)]
            assert request(hook, "POST", "/k8s-audit", orjson.dumps(batch))[0] == 200
        proc.send_signal(signal.SIGTERM)  # right away: accepted events must still be evaluated and written
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    alerts = out.splitlines()
    assert len(alerts) == 2000 and orjson.loads(alerts[-1])["rule"] == "Creates"
    assert len((tmp_path / "alerts.json").read_bytes().splitlines()) == 2000


def test_down_http_output_never_slows_intake_and_its_losses_are_counted(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg["outputs"] = {
        "queue_size": 1000,
        "stdout": {"enabled": False},
        "file": {"path": str(tmp_path / "a.json")},
        "http": {"url": f"http://127.0.0.1:{free_port()}/", "timeout": 0.2, "retries": 1},
    }
    cfg["shutdown_timeout"] = 1
    svc = Service(validate_config(cfg))
    svc.start()
    hook, mport = svc.sources[0].port, svc.metrics.port
    try:
        worst = 0.0
        for start in range(0, 2000, 400):
            t = time.perf_counter()
            status, _ = request(
                hook, "POST", "/k8s-audit", orjson.dumps([audit(i) for i in range(start, start + 400)])
            )
            worst = max(worst, time.perf_counter() - t)
            assert status == 200
        assert worst < 1.0  # the webhook answered without waiting for the dead endpoint
        assert wait_for(lambda: metric(mport, "falcopy_events") == {(("source", "k8s_audit"),): 2000})
        assert wait_for(
            lambda: len((tmp_path / "a.json").read_bytes().splitlines()) == 2000
        )  # file unaffected
        drops = metric(mport, "falcopy_drops")
        assert drops[(("reason", "output_queue_full"), ("source", "k8s_audit"))] >= 2000 - 1000 - 5
        per_sink = metric(mport, "falcopy_output_drops")
        assert per_sink[(("reason", "output_queue_full"), ("sink", "http"))] >= 2000 - 1005
        assert not any(sink == ("sink", "file") for key in per_sink for sink in key)
    finally:
        svc.shutdown()


class FakeSyscallSource:
    """Stands in for a kernel backend: records the lifecycle calls the service makes."""

    name = "syscall"

    def __init__(self, events: list[Any]) -> None:
        self.calls: list[str] = []
        self._events = events
        self._stop = threading.Event()

    field_classes = ()

    def open(self) -> None:
        self.calls.append("open")

    def run_batches(self, deliver: Any) -> None:
        self.calls.append("run_batches")
        for e in self._events:
            deliver((e,))
        self._stop.wait(10)

    def describe(self) -> str:
        return "syscall fake"

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return False

    def stop(self) -> None:
        self.calls.append("stop")
        self._stop.set()

    def close(self) -> None:
        self.calls.append("close")

    def stats(self) -> SourceStats:
        return SourceStats(events=len(self._events), kernel_lost=3, drops=Counter(socket_overflow=2),
                           process_table=42)


def test_syscall_hook_lifecycle_and_unavailable_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.sources.syscall as syscall_mod

    fake = FakeSyscallSource([])
    seen: dict[str, Any] = {}

    def build(section: dict[str, Any], *, ruleset: Any) -> FakeSyscallSource:
        seen["section"], seen["ruleset"] = section, ruleset
        return fake

    monkeypatch.setattr(syscall_mod, "build", build)
    cfg = config(tmp_path)
    cfg["sources"] = {"syscall": {"backend": "proc", "max_processes": 10}}
    svc = Service(validate_config(cfg))
    assert {k: seen["section"][k] for k in ("enabled", "backend", "max_processes")} == {
        "enabled": True,
        "backend": "proc",
        "max_processes": 10,
    }
    assert seen["ruleset"] is svc.engine.ruleset
    svc.start()
    try:
        assert wait_for(lambda: request(svc.metrics.port, "GET", "/healthz")[0] == 200)
        assert metric(svc.metrics.port, "falcopy_drops") == {
            (("reason", "kernel_lost"), ("source", "syscall")): 3,
            (("reason", "socket_overflow"), ("source", "syscall")): 2,
        }
        _, body = request(svc.metrics.port, "GET", "/metrics")
        assert b'falcopy_process_table_size{source="syscall"} 42.0' in body
    finally:
        svc.shutdown()
    assert fake.calls == ["open", "run_batches", "stop", "close"]

    def unavailable(section: dict[str, Any], *, ruleset: Any) -> Any:
        raise syscall_mod.SyscallSourceUnavailable("audit", "the host PID namespace")

    monkeypatch.setattr(syscall_mod, "build", unavailable)
    assert serve(cfg) == 4


def test_rules_reload_renarrows_the_syscall_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.sources.syscall as syscall_mod

    class Narrowing(FakeSyscallSource):
        def __init__(self) -> None:
            super().__init__([])
            self.narrowed: list[frozenset[str]] = []

        def update_event_types(self, event_types: frozenset[str]) -> bool:
            self.narrowed.append(frozenset(event_types))
            return True

    fake = Narrowing()
    monkeypatch.setattr(syscall_mod, "build", lambda section, *, ruleset: fake)
    cfg = config(tmp_path)
    cfg["sources"] = {"syscall": {"backend": "audit"}}
    svc = Service(validate_config(cfg))
    try:
        rules = Path(cfg["rules"][0])
        rules.write_text(rules.read_text() + textwrap.dedent("""
            - rule: Shadow opened
              desc: a syscall rule that needs openat
              condition: evt.type = openat and fd.name = /etc/shadow
              output: "%proc.name opened %fd.name"
              priority: WARNING
            """))
        assert svc.reloader.load() is True
        assert fake.narrowed == [svc.engine.ruleset.evttypes_needed("syscall")]
        assert "openat" in fake.narrowed[0]
    finally:
        svc.shutdown()  # built, never started: releases the metrics port it bound


def test_no_source_enabled_still_serves_health(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path)
    cfg["sources"] = {}
    svc = Service(validate_config(cfg))
    svc.start()
    try:
        assert "no event source is enabled" in caplog.text
        status, body = request(svc.metrics.port, "GET", "/healthz")
        assert status == 200 and orjson.loads(body)["sources"] == {}
    finally:
        svc.shutdown()
    assert request_fails(svc.metrics.port)


def request_fails(port: int) -> bool:
    try:
        request(port, "GET", "/healthz")
    except OSError:
        return True
    return False


def test_audit_log_file_source_feeds_the_engine_and_hangup_reopens_outputs(tmp_path: Path) -> None:
    log_file = tmp_path / "audit.log"
    log_file.write_bytes(orjson.dumps(audit(0)) + b"\n")  # already there: skipped (start_at: end)
    cfg = config(tmp_path)
    cfg["sources"] = {"k8s_audit": {"file": {"path": str(log_file), "poll_interval": 0.02}}}
    svc = Service(validate_config(cfg))
    svc.start()
    mport = svc.metrics.port
    try:
        assert wait_for(lambda: request(mport, "GET", "/healthz")[0] == 200)
        assert wait_for(lambda: svc.sources[0].following)  # opened at its end before we append
        with open(log_file, "ab") as fh:
            fh.write(b"".join(orjson.dumps(audit(i)) + b"\n" for i in range(1, 6)) + b"{bad\n")
        assert wait_for(lambda: metric(mport, "falcopy_events") == {(("source", "k8s_audit"),): 5})
        assert metric(mport, "falcopy_drops") == {(("reason", "invalid_line"), ("source", "k8s_audit")): 1}
        assert wait_for(lambda: len((tmp_path / "alerts.json").read_bytes().splitlines()) == 5)
        os.rename(tmp_path / "alerts.json", tmp_path / "alerts.json.1")
        svc.hangup()  # logrotate's postrotate: new alerts go to a fresh file
        with open(log_file, "ab") as fh:
            fh.write(orjson.dumps(audit(9)) + b"\n")
        assert wait_for(lambda: (tmp_path / "alerts.json").exists())
    finally:
        svc.shutdown()
    assert len((tmp_path / "alerts.json").read_bytes().splitlines()) == 1


def test_json_log_lines_are_valid_json_with_quotes_in_messages() -> None:
    from engine.service import _JsonLines

    record = logging.LogRecord("engine.x", logging.ERROR, __file__, 1, 'bad "quoted" %s', ("value",), None)
    doc = orjson.loads(_JsonLines().format(record))
    assert doc["msg"] == 'bad "quoted" value' and doc["level"] == "error" and doc["logger"] == "engine.x"


def test_a_source_stuck_in_one_delivery_makes_healthz_unhealthy_until_it_returns(tmp_path: Path) -> None:
    svc = Service(validate_config(config(tmp_path, stall_seconds=0.3)))
    release = threading.Event()
    real = svc.engine.process_batch

    def stuck(batch: Any) -> Any:  # a rule that never returns, as the engine thread would see it
        release.wait(20)
        return real(batch)

    svc.engine.process_batch = stuck  # type: ignore[method-assign]
    svc.start()
    hook, mport = svc.sources[0].port, svc.metrics.port
    try:
        assert request(mport, "GET", "/healthz")[0] == 200  # idle, waiting for input: not stalled
        assert request(hook, "POST", "/k8s-audit", orjson.dumps([audit(1)]))[0] == 200
        assert wait_for(lambda: request(mport, "GET", "/healthz")[0] == 503)
        status, body = request(mport, "GET", "/healthz")
        doc = orjson.loads(body)
        assert status == 503 and doc["status"] == "unhealthy"
        assert list(doc["stalled"]) == ["source-k8s_audit"] and doc["sources"] == {"source-k8s_audit": True}
        release.set()
        assert wait_for(lambda: request(mport, "GET", "/healthz")[0] == 200)
        assert orjson.loads(request(mport, "GET", "/healthz")[1])["stalled"] == {}
        assert wait_for(lambda: metric(mport, "falcopy_events") == {(("source", "k8s_audit"),): 1})
    finally:
        release.set()
        svc.shutdown()
