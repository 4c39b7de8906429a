"""Sources that hand the engine batches (``run_batches``/``batches``): the same events, counters, drops and errors
as event by event, and the service uses them."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from audit_log_support import follow_appended

from engine.runtime import Engine
from engine.sources.k8s_audit.file import AuditFileSource
from engine.sources.k8s_audit.webhook import WebhookSource
from engine.sources.replay import BATCH, ReplayError, ReplaySource
from engine.testing.audit_synth import synth_lines

LINES = synth_lines(1300, seed=8)


class _Rules:
    """Every event matches one rule (a fake ruleset with ``evaluate`` only): one alert per event."""

    checksum = "x"

    def __init__(self) -> None:
        from engine.priority import Priority

        class Fmt:
            def format(self, event: Any) -> tuple[str, dict[str, Any]]:
                return event.obj["auditID"], {"id": event.obj["auditID"]}

        class Rule:
            name = "all"
            priority = Priority.NOTICE
            tags = ()
            formatter = Fmt()

        self.rule = Rule()

    def evaluate(self, event: Any) -> list[Any]:
        return [self.rule]


def _ids(alerts: list[Any]) -> list[str]:
    return [a.output_fields["id"] for a in alerts]


def _want(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["auditID"] for line in lines]


def test_audit_file_batches_are_its_events_with_the_same_drops(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.sources.k8s_audit.file.READ_CHUNK", 64 << 10)  # lines cross chunk boundaries
    log = tmp_path / "audit.log"
    bad = [b"{broken", b'{"kind":"Pod"}', b"", b"   ", b"x" * 3000]
    body = [*LINES[:700], *bad, *LINES[700:]]
    log.write_bytes(b"\n".join(body) + b"\n")
    one = AuditFileSource(log, start_at="beginning", max_line_bytes=2048)
    events = list(one.poll_once())
    many = AuditFileSource(log, start_at="beginning", max_line_bytes=2048)
    engine = Engine(_Rules())
    with caplog.at_level(logging.WARNING):
        batches = list(many.poll_batches())
        alerts = [a for batch in batches for a in engine.process_batch(batch)]
    assert len(batches) > 1  # one per read chunk
    assert _ids(alerts) == [e.obj["auditID"] for e in events] == _want(LINES)
    assert many.stats() == one.stats()
    assert many.stats().drops == {"invalid_line": 2, "line_too_large": 1}
    assert f"{log}:701: dropped:" in caplog.text and f"{log}:705: dropped: line longer" in caplog.text


def test_audit_file_run_batches_follows_until_stopped(tmp_path: Path) -> None:
    engine = Engine(_Rules())

    def follow(src: AuditFileSource, got: list[Any]) -> None:
        src.run_batches(lambda batch: got.extend(engine.process_batch(batch)))

    src, got, ended = follow_appended(tmp_path, follow, LINES[:10])
    assert ended and _ids(got) == _want(LINES[:10])
    assert engine.stats()["events_total"] == {"k8s_audit": 10} and src.stats().events == 10


def test_replay_batches_equal_its_events_and_stats(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(LINES) + b"\n\n")
    one = ReplaySource(path)
    events = list(one)
    many = ReplaySource(path)
    engine = Engine(_Rules())
    assert engine.run(many) == len(LINES)  # Engine.run reads the replay's batches
    assert [e.obj["auditID"] for e in events] == _want(LINES)
    assert many.stats() == one.stats()
    stats = many.stats()
    assert (stats.events, stats.payloads, stats.bad_payloads, stats.dropped) == (len(LINES), len(LINES), 0, 0)
    assert stats.bytes == path.stat().st_size
    assert len(list(ReplaySource(path).batches())) == -(-len(LINES) // BATCH)
    doc = tmp_path / "list.json"
    doc.write_bytes(orjson.dumps({"kind": "EventList", "items": [orjson.loads(x) for x in LINES]}))
    whole = ReplaySource(doc)
    assert [e.obj["auditID"] for batch in whole.batches() for e in batch] == _want(LINES)
    assert whole.stats().events == len(LINES)


def test_replay_bad_line_in_a_later_batch_after_its_events_are_processed(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    bad_at = BATCH + 10
    lines = [*LINES[:bad_at], b'{"kind":"Pod"}', *LINES[bad_at:bad_at + 5]]
    path.write_bytes(b"\n".join(lines) + b"\n")
    got: list[Any] = []
    engine = Engine(_Rules(), outputs=[got.append])
    src = ReplaySource(path)
    with pytest.raises(ReplayError) as info:
        engine.run(src)
    assert info.value.line == bad_at + 1
    assert _ids(got) == _want(LINES[:bad_at])
    stats = src.stats()
    assert (stats.events, stats.payloads, stats.bad_payloads, stats.dropped) == (bad_at, bad_at + 1, 1, 0)
    assert engine.stats()["events_total"] == {"k8s_audit": bad_at}


def test_replay_of_syscall_events_in_batches(tmp_path: Path) -> None:
    from engine.events.syscall import ProcessInfo, SyscallEvent

    recorded = [SyscallEvent(type="execve", proc=ProcessInfo(pid=i, name="bash")) for i in range(BATCH + 3)]
    path = tmp_path / "sys.jsonl"
    path.write_bytes(b"\n".join(e.to_json() for e in recorded) + b"\nnot json\n")
    src = ReplaySource(path, name="syscall")
    seen: list[list[int]] = []
    with pytest.raises(ReplayError, match=rf"sys\.jsonl:{BATCH + 4}: not a recorded syscall event"):
        for batch in src.batches():
            seen.append([])
            for e in batch:
                seen[-1].append(e.proc.pid)
    assert [len(b) for b in seen] == [BATCH, 3] and [p for b in seen for p in b] == list(range(BATCH + 3))


def test_webhook_run_batches_hands_over_each_requests_events(tmp_path: Path) -> None:
    import http.client

    src = WebhookSource(listen="127.0.0.1:0", queue_size=10_000)
    src.open()
    docs = [orjson.loads(x) for x in LINES[:30]]
    try:
        for chunk in (docs[:1], docs[1:21], docs[21:]):
            conn = http.client.HTTPConnection("127.0.0.1", src.port, timeout=5)
            conn.request("POST", "/k8s-audit", body=orjson.dumps(chunk), headers={"Content-Type": "application/json"})
            assert conn.getresponse().status == 200
            conn.close()
    finally:
        src.stop()
    sizes: list[int] = []
    engine = Engine(_Rules())
    alerts: list[Any] = []

    def take(batch: list[Any]) -> None:
        sizes.append(len(batch))
        alerts.extend(engine.process_batch(batch))

    src.run_batches(take)
    assert sizes == [1, 20, 9] and _ids(alerts) == [d["auditID"] for d in docs]
    assert src.stats().events == 30


def test_service_hands_a_source_s_batches_to_process_batch() -> None:
    from engine.progress import DeliveryWatch
    from engine.service import Service
    from engine.sources.k8s_audit.decode import decode_stream

    svc = Service.__new__(Service)  # only what ``_run_source`` reads: the engine, the watch and the stop flag
    svc.engine = Engine(_Rules())
    svc.watch = DeliveryWatch(60)
    svc.stopping = threading.Event()
    svc.stopping.set()
    svc.exit_code = 0
    calls: list[str] = []

    class Batched:
        name = "k8s_audit"

        def run_batches(self, callback: Any) -> None:
            calls.append("run_batches")
            callback(decode_stream(LINES[:40]))

    class Single:
        name = "syscall"

        def run_batches(self, callback: Any) -> None:
            calls.append("one at a time")
            for event in decode_stream(LINES[:1]):
                callback((event,))

    svc._run_source(Batched())  # type: ignore[arg-type]
    svc._run_source(Single())  # type: ignore[arg-type]
    assert calls == ["run_batches", "one at a time"]
    assert svc.engine.stats()["events_total"] == {"k8s_audit": 41} and svc.exit_code == 0


def test_the_batch_sources_follow_the_batch_protocol(tmp_path: Path) -> None:
    from engine.events.syscall import SyscallEvent
    from engine.sources.base import Source
    from engine.sources.paced_replay import PacedReplay

    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    hook = WebhookSource(listen="127.0.0.1:0")
    for source in (ReplaySource(log), AuditFileSource(log), hook, PacedReplay(log, name="k8s_audit")):
        assert isinstance(source, Source), type(source).__name__
        assert source.describe().startswith(source.name)
        assert source.update_event_types(frozenset({"execve"})) is False
    hook.close()
    hook.close()  # twice is fine
    recorded = tmp_path / "syscall.jsonl"
    recorded.write_bytes(SyscallEvent(type="execve").to_json() + b"\n")
    assert isinstance(ReplaySource(recorded, name="syscall"), Source)
