"""The ebpf backend's binary capture: probe records written as they left the ring replay through the decoder,
with the process and container state learned beside them; bad files are errors naming the frame and byte."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine.events.syscall import ContainerInfo, ProcessInfo
from engine.sources.replay import ReplayError, ReplaySource
from engine.sources.syscall.ebpf import decode as d
from engine.sources.syscall.ebpf.capture import CaptureWriter
from engine.sources.syscall.linux_audit.syscalls import X86_64

BOOT = 1_700_000_000_000_000_000


def item(kind: int, argi: int, data: bytes) -> bytes:
    return d.ITEM.pack(kind, argi, len(data)) + data


def path_components(path: str) -> bytes:
    parts = [p for p in path.split("/") if p]
    return b"".join(bytes([len(p)]) + p.encode() for p in reversed(parts))


def openat(pid: int, name: bytes, *, dirfd: int = -100, res: int = 3, dirpath: str | None = None) -> bytes:
    head = d.HDR.pack(d.K_SYSCALL, X86_64["openat"], 0, 0, 5_000, pid, pid, res)
    args = d.ARGS.pack(dirfd & 0xFFFFFFFFFFFFFFFF, 0, 0, 0, 0, 0)
    items = item(d.I_STR, 1, name)
    if dirpath is not None:
        items += item(d.I_FDPATH, 0, path_components(dirpath))
    return head + args + items


def execve(pid: int, ppid: int, argv: list[bytes], exe: str, cwd: str) -> bytes:
    head = d.HDR.pack(d.K_EXEC, 0, 1, 0, 4_000, pid, pid, 0)
    info = d.EXEC.pack(ppid, pid, pid, pid, pid, pid, 1000, 1000, 1000, 1000, 1000, 0, pid, d.EXE_UPPER_LAYER,
                       0, 0, 0, 3_000, 42, 0, argv[0].rsplit(b"/", 1)[-1])
    return head + info + item(d.I_EXE, 0, path_components(exe)) + item(d.I_ARGV, 0, b"\0".join(argv) + b"\0") + (
        item(d.I_CWD, 0, path_components(cwd)))


def write(path: Path, records: list[bytes], *, before: tuple[ProcessInfo, ...] = ()) -> None:
    writer = CaptureWriter(path, boot_ns=BOOT).open()
    writer.snapshot = True
    for proc in before:
        writer.process(proc, proc.pid)
    writer.snapshot = False
    data = b"".join(records)
    spans: list[tuple[int, int]] = []
    at = 0
    for rec in records:
        spans.append((at, len(rec)))
        at += len(rec)
    writer.write_batch(data, spans)
    writer.close()


def test_records_replay_through_the_decoder_with_the_recorded_processes(tmp_path: Path) -> None:
    capture = tmp_path / "cap.bin"
    shell = ProcessInfo(pid=10, ppid=1, name="bash", exepath="/bin/bash", cwd="/root/")
    write(capture, [execve(20, 10, [b"cat", b"x"], "/usr/bin/cat", "/srv/app"), openat(20, b"x"),
                    openat(20, b"../etc/passwd", dirfd=7, dirpath="/srv/app/sub")], before=(shell,))
    events = list(ReplaySource(capture, name="syscall"))
    assert [e.type for e in events] == ["openat", "openat"] and [e.num for e in events] == [1, 2]
    first, second = events
    assert first.ts == BOOT + 5_000 and first.proc is not None
    assert (first.proc.name, first.proc.exepath, first.proc.args, first.proc.cwd) == ("cat", "/usr/bin/cat", ["x"],
                                                                                     "/srv/app/")
    assert first.proc.exe_upper_layer and first.proc.parent is not None and first.proc.parent.name == "bash"
    assert first.fd is not None and (first.fd.name, first.fd.nameraw) == ("/srv/app/x", "x")
    assert first.args["name"] == "x" and first.paths == {"name": "/srv/app/x"}
    assert second.fd is not None and second.fd.name == "/srv/app/etc/passwd"
    assert second.args["dirfd"] == 7


def test_a_process_read_on_a_miss_is_replayed_without_proc(tmp_path: Path) -> None:
    capture = tmp_path / "cap.bin"
    writer = CaptureWriter(capture, boot_ns=BOOT).open()
    writer.reader(lambda pid: ProcessInfo(pid=pid, name="sleeper", exepath="/bin/sleep"))(77)  # live: a /proc read
    rec = openat(77, b"/etc/hostname")
    writer.write_batch(rec, [(0, len(rec))])
    writer.close()
    (event,) = ReplaySource(capture, name="syscall")
    assert event.proc is not None and event.proc.name == "sleeper"


def test_container_state_is_recorded_once_and_replayed(tmp_path: Path) -> None:
    capture = tmp_path / "cap.bin"
    writer = CaptureWriter(capture, boot_ns=BOOT).open()
    lookup = writer.containers(lambda cid: ContainerInfo(id=cid, name="web", pod_name="web-0"))
    assert lookup("abcdef123456") == lookup("abcdef123456")
    writer.close()
    data = capture.read_bytes()
    assert data.count(b"web-0") == 1  # an unchanged container is not written again


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b"NOTACAPT" + b[8:], None),  # not our magic: read as JSON lines, which it is not
    (lambda b: b[:8] + struct.pack("<H", 9) + b[10:], r":0: \(frame 0, byte 0\) unsupported capture version 9"),
    (lambda b: b[:-3], r":1: \(frame 1, byte 32\) frame of \d+ bytes runs past the end of the file"),
    (lambda b: b + b"\x01\x00", r":2: \(frame 2, byte \d+\) truncated frame header"),
])
def test_bad_captures_name_the_frame_and_byte(tmp_path: Path, mutate, message: str | None) -> None:  # type: ignore[no-untyped-def]
    good = tmp_path / "good.bin"
    write(good, [openat(5, b"/etc/hostname")])
    bad = tmp_path / "bad.bin"
    bad.write_bytes(mutate(good.read_bytes()))
    with pytest.raises(ReplayError, match=(f"{bad}{message}" if message else f"{bad}:1: not a recorded")):
        list(ReplaySource(bad, name="syscall"))

