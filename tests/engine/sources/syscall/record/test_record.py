"""Recording syscall events as JSON lines and reading them back with the replay source."""

from __future__ import annotations

from pathlib import Path

from engine.events.syscall import FdInfo, ProcessInfo, SyscallEvent
from engine.sources.replay import ReplaySource
from engine.sources.syscall.record.recorder import Recorder, record_events


def sample(n: int) -> SyscallEvent:
    parent = ProcessInfo(pid=1, name="systemd")
    proc = ProcessInfo(pid=100 + n, ppid=1, name="cat", args=["/etc/shadow"], parent=parent)
    return SyscallEvent(type="openat", ts=1_700_000_000_000_000_000 + n, tid=100 + n, pid=100 + n, res=3,
                        args={"fd": 3, "name": "/etc/shadow", "flags": 0}, proc=proc,
                        fd=FdInfo(num=3, name="/etc/shadow"), num=n)


def test_record_then_replay_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run" / "events.jsonl"
    events = [sample(i) for i in range(600)]
    assert record_events(events, path) == 600
    back = list(ReplaySource(path, name="syscall"))
    assert [e.to_dict() for e in back] == [e.to_dict() for e in events]
    assert back[5].proc is not None and back[5].proc.parent is not None and back[5].proc.parent.name == "systemd"


def test_recorder_outside_context_refuses(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "x.jsonl")
    try:
        recorder.write(sample(0))
    except RuntimeError as exc:
        assert "not open" in str(exc)
    else:
        raise AssertionError("write without open must fail")
