"""The version-2 recording stream: process states written once, events referring to them, exact round trips."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.events.syscall import ProcessInfo, SyscallEvent
from engine.sources.replay import ReplayError, ReplaySource
from engine.sources.syscall.record.recorder import record_events
from engine.sources.syscall.record.stream import StreamDecoder, StreamEncoder


def chain() -> ProcessInfo:
    init = ProcessInfo(pid=1, name="systemd", env=["A=" + "x" * 2000])
    shell = ProcessInfo(pid=10, ppid=1, name="bash", env=["B=" + "y" * 2000], parent=init)
    return ProcessInfo(pid=42, ppid=10, name="cat", args=["/etc/shadow"], parent=shell)


def event(proc: ProcessInfo | None, n: int) -> SyscallEvent:
    return SyscallEvent(type="openat", ts=1_700_000_000_000_000_000 + n, tid=42, pid=42, res=3,
                        args={"fd": 3, "name": f"/etc/f{n}", "flags": 0}, proc=proc, num=n)


def full_state(ev: SyscallEvent) -> dict[str, object]:
    return ev.to_dict()  # version 1: the whole chain, every attribute that differs from the defaults


def decode_all(lines: bytes) -> list[SyscallEvent]:
    decoder = StreamDecoder()
    return [e for e in map(decoder.decode, lines.splitlines()) if e is not None]


def test_each_process_state_is_written_once_and_events_refer_to_it() -> None:
    proc = chain()
    encoder = StreamEncoder()
    stream = b"".join(encoder.encode(event(proc, n)) for n in range(100))
    assert encoder.process_lines == 3
    assert stream.count(b"A=xxx") == 1 and stream.count(b"B=yyy") == 1  # each environment stored once
    back = decode_all(stream)
    assert [full_state(e) for e in back] == [full_state(event(proc, n)) for n in range(100)]
    assert back[0].proc is back[99].proc  # one object per recorded state, as in the live table
    assert len(stream) < 100 * len(event(proc, 0).to_json()) / 10


def test_a_changed_process_or_ancestor_gets_new_lines_and_old_events_keep_their_state() -> None:
    proc = chain()
    encoder = StreamEncoder()
    before = event(proc, 1)
    expected = [full_state(before)]
    stream = encoder.encode(before)
    proc.uid = 1000  # the process changed (an overlay of the record's credentials, say)
    expected.append(full_state(event(proc, 2)))
    stream += encoder.encode(event(proc, 2))
    assert proc.parent is not None
    proc.parent.cwd = "/srv/"  # an ancestor changed: its line and every descendant's line are rewritten
    expected.append(full_state(event(proc, 3)))
    stream += encoder.encode(event(proc, 3))
    assert encoder.process_lines == 3 + 1 + 2
    back = decode_all(stream)
    assert [full_state(e) for e in back] == expected
    assert back[0].proc is not None and back[0].proc.uid is None and back[2].proc is not None
    assert back[2].proc.parent is not None and back[2].proc.parent.cwd == "/srv/"


def test_bounded_memory_writes_a_reset_and_the_reader_follows() -> None:
    encoder = StreamEncoder(max_known=2)
    procs = [ProcessInfo(pid=p, name=f"p{p}") for p in range(5)]
    stream = b"".join(encoder.encode(event(p, i)) for i, p in enumerate(procs * 2))
    assert b'"reset":true' in stream
    back = decode_all(stream)
    assert [e.proc.name for e in back if e.proc is not None] == [p.name for p in procs * 2]


def test_events_without_a_process_and_version_1_lines_mix_in_one_stream() -> None:
    encoder = StreamEncoder()
    stream = encoder.encode(event(None, 1)) + event(chain(), 2).to_json() + b"\n" + encoder.encode(event(chain(), 3))
    back = decode_all(stream)
    assert [e.num for e in back] == [1, 2, 3]
    assert back[0].proc is None and back[1].proc is not None and back[1].proc.parent is not None


def test_reference_to_an_unwritten_process_is_an_error_naming_it() -> None:
    decoder = StreamDecoder()
    with pytest.raises(ValueError, match="'proc' refers to process line 9"):
        decoder.decode(orjson.dumps({"v": 2, "type": "openat", "proc": 9}))
    with pytest.raises(ValueError, match="'parent' refers to process line 3"):
        decoder.decode(orjson.dumps({"v": 2, "id": 4, "parent": 3, "proc": {"pid": 1}}))
    with pytest.raises(TypeError, match="proc.uid must be int"):
        decoder.decode(orjson.dumps({"v": 2, "id": 4, "parent": None, "proc": {"pid": 1, "uid": "root"}}))


def test_recorder_writes_the_stream_and_replay_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    events = [event(chain(), n) for n in range(3)]
    assert record_events(events, path) == 3
    back = list(ReplaySource(path, name="syscall"))
    assert [full_state(e) for e in back] == [full_state(e) for e in events]
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join(line for line in lines if b'"id":1,' not in line) + b"\n")  # lose the init line
    with pytest.raises(ReplayError, match=r"rec\.jsonl:1: .*'parent' refers to process line 1"):
        list(ReplaySource(path, name="syscall"))
