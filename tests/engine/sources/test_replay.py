"""Replay of recorded audit events: every file shape, and errors that name the file and line."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from shared_material import audit_event_files

from engine.sources.base import Source
from engine.sources.replay import ReplayError, ReplaySource, replay
from engine.testing.audit_synth import synth_lines


def event(i: int) -> dict[str, Any]:
    return {"kind": "Event", "auditID": f"id-{i}", "verb": "get",
            "stageTimestamp": f"2024-01-01T00:00:0{i}.000001Z"}


def test_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(event(i)) for i in range(3)) + b"\n\n")
    src = ReplaySource(path)
    assert [e.obj["auditID"] for e in src] == ["id-0", "id-1", "id-2"]
    stats = src.stats()
    assert (stats.events, stats.payloads, stats.bad_payloads, stats.dropped) == (3, 3, 0, 0)
    assert isinstance(src, Source)
    assert {fc.name for fc in src.field_classes} == {"k8saudit", "json"}


def test_pretty_printed_event_list(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_bytes(orjson.dumps({"kind": "EventList", "items": [event(1), event(2)]},
                                  option=orjson.OPT_INDENT_2))
    assert [e.ts for e in replay(path)] == [1704067201000001000, 1704067202000001000]


def test_upstream_files_replay(conformance: Path) -> None:
    files, rejected = audit_event_files(conformance)
    assert files
    for f in files:
        events = list(replay(f))
        assert events and all(e.source == "k8s_audit" for e in events), f
    for f in rejected:  # what the corpus says is not audit data fails with file:line, not a traceback
        with pytest.raises(ReplayError, match=rf"^{re.escape(str(f))}:\d+: "):
            list(replay(f))


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(orjson.dumps(event(1)) + b"\n" + b'{"kind":"Pod"}\n')
    it = replay(path)
    assert next(it).obj["auditID"] == "id-1"  # events before the bad line are delivered
    with pytest.raises(ReplayError) as info:
        next(it)
    assert str(info.value) == f"{path}:2: data not recognized as a k8s audit event"
    assert info.value.line == 2


def test_not_json_at_all(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("\nhello world\n")
    with pytest.raises(ReplayError, match=r"x\.txt:2: data not recognized as a k8s audit event: invalid JSON"):
        list(replay(path))


def test_missing_file_and_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot read"):
        list(replay(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="unknown event source"):
        ReplaySource(tmp_path, name="k8saudit")


def test_synthetic_stream_replays(tmp_path: Path) -> None:
    path = tmp_path / "synth.jsonl"
    path.write_bytes(b"\n".join(synth_lines(500, seed=7)))
    events = list(replay(path))
    assert len(events) == 500
    assert all(a.ts < b.ts for a, b in itertools.pairwise(events))


def test_syscall_recordings_replay_and_bad_lines_are_named(tmp_path: Path) -> None:
    from engine.events.syscall import ProcessInfo, SyscallEvent

    recorded = [SyscallEvent(type="execve", dir="<", ts=1_700_000_000_000_000_000 + i, tid=10 + i, pid=10 + i,
                             res=0, args={}, proc=ProcessInfo(pid=10 + i, name="sh"), fd=None, container=None)
                for i in range(3)]
    path = tmp_path / "sys.jsonl"
    path.write_bytes(b"\n".join(e.to_json() for e in recorded) + b"\n")
    src = ReplaySource(path, name="syscall")
    assert [(e.source, e.evt_type, e.proc.pid) for e in src] == [("syscall", "execve", 10 + i) for i in range(3)]
    assert {"process", "fd"} <= {fc.name for fc in src.field_classes}
    path.write_bytes(recorded[0].to_json() + b"\n{\"type\": 5}\n")
    with pytest.raises(ReplayError, match=r"sys\.jsonl:2: not a recorded syscall event"):
        list(replay(path, name="syscall"))
