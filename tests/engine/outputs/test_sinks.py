"""Sinks: stdout lines, file append + reopen after rotation, HTTP POST of Falco JSON with bounded retries."""

from __future__ import annotations

import io
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.outputs.alert import Alert
from engine.outputs.queue import OutputQueue
from engine.outputs.sinks import FileSink, HttpSink, StdoutSink, build_sinks, read_secret
from engine.priority import Priority


def alert(i: int = 0) -> Alert:
    return Alert(
        rule=f"R{i}",
        priority=Priority.WARNING,
        source="k8s_audit",
        ts=1_767_225_600_123_456_789,
        output=f"00:00:00.123456789: Warning out {i}",
        output_fields={"ka.verb": "create"},
        tags=("k8s",),
        hostname="h1",
    )


def test_stdout_json_and_text() -> None:
    buf = io.BytesIO()
    StdoutSink(fmt="json", stream=buf).write(alert(1))
    doc = orjson.loads(buf.getvalue())
    assert (
        doc["rule"] == "R1"
        and doc["priority"] == "Warning"
        and doc["time"] == "2026-01-01T00:00:00.123456789Z"
    )
    buf = io.BytesIO()
    StdoutSink(fmt="text", stream=buf).write(alert(2))
    assert buf.getvalue() == b"00:00:00.123456789: Warning out 2\n"
    with pytest.raises(ValueError, match="outputs.stdout.format"):
        StdoutSink(fmt="yaml")


def test_file_sink_appends_and_reopens_after_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.outputs.sinks._CHECK_ROTATION_EVERY", 0.0)
    path = tmp_path / "alerts.json"
    path.write_bytes(b"old\n")
    sink = FileSink(path)
    sink.write(alert(1))
    sink.flush()
    os.rename(path, tmp_path / "alerts.json.1")
    sink.write(alert(2))
    sink.flush()
    assert (tmp_path / "alerts.json.1").read_bytes().splitlines()[0] == b"old"
    assert orjson.loads((tmp_path / "alerts.json.1").read_bytes().splitlines()[1])["rule"] == "R1"
    assert [orjson.loads(x)["rule"] for x in path.read_bytes().splitlines()] == ["R2"]
    sink.reopen()  # SIGHUP path: same file, reopened, still appending
    sink.write(alert(3))
    sink.close()
    assert [orjson.loads(x)["rule"] for x in path.read_bytes().splitlines()] == ["R2", "R3"]


class Receiver:
    """A tiny loopback HTTP endpoint recording POSTs; ``fail_first`` answers 503 that many times."""

    def __init__(self, *, fail_first: int = 0, status: int = 200) -> None:
        self.bodies: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    code = 503
                else:
                    outer.bodies.append((dict(self.headers), body))
                    code = status
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_http_sink_posts_one_falco_json_per_request_with_token(tmp_path: Path) -> None:
    rx = Receiver(fail_first=1)
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    try:
        sink = HttpSink(rx.url, headers={"X-Team": "sec"}, token_file=str(token), backoff=0.01)
        sink.write(alert(1))
        sink.write(alert(2))
        sink.close()
    finally:
        rx.close()
    assert len(rx.bodies) == 2  # the first 503 was retried
    headers, body = rx.bodies[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer s3cret" and headers["X-Team"] == "sec"
    assert set(orjson.loads(body)) == {
        "hostname",
        "output",
        "output_fields",
        "priority",
        "rule",
        "source",
        "tags",
        "time",
    }


def test_http_sink_gives_up_after_bounded_retries() -> None:
    rx = Receiver(status=400)
    try:
        sink = HttpSink(rx.url, retries=3, backoff=0.01)
        with pytest.raises(ConnectionError, match="HTTP 400"):
            sink.write(alert())  # 4xx is not retried
        assert rx.bodies and len(rx.bodies) == 1
    finally:
        rx.close()
    dead = HttpSink("http://127.0.0.1:9/x", retries=2, backoff=0.01, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="failed"):
        dead.write(alert())
    assert time.monotonic() - start < 2.0


def test_down_http_sink_never_stalls_other_sinks_and_counts_drops() -> None:
    buf = io.BytesIO()
    dead = HttpSink("http://127.0.0.1:9/x", retries=1, backoff=0.05, timeout=0.2)
    q = OutputQueue([dead, StdoutSink(stream=buf)], queue_size=50, log_interval=60)
    start = time.monotonic()
    for i in range(40):
        q.emit(alert(i))
    assert time.monotonic() - start < 0.2
    q.close(deadline=1.0)
    assert len(buf.getvalue().splitlines()) == 40
    drops = q.stats()["sink_drops"]
    assert sum(n for (sink, _), n in drops.items() if sink == "http") == 40


def test_build_sinks_and_secret_errors(tmp_path: Path) -> None:
    sinks = build_sinks(
        {
            "stdout": {"enabled": True, "format": "text"},
            "file": {"enabled": True, "path": str(tmp_path / "a.log")},
            "http": {"enabled": False},
        }
    )
    assert [s.name for s in sinks] == ["stdout", "file"]
    for sink in sinks:
        sink.close()
    with pytest.raises(ValueError, match="outputs.http.url"):
        build_sinks({"http": {"enabled": True}})
    with pytest.raises(ValueError, match=r"outputs.http.token_file: cannot read .*missing"):
        read_secret(tmp_path / "missing", what="outputs.http.token_file")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        read_secret(tmp_path / "empty", what="t")
