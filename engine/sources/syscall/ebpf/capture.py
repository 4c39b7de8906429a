"""The binary capture of the ebpf backend: the probe's own records, written as they leave the ring, replayed
through the same decoder.

Owns: the capture file format (docs/record-format.md, "Binary capture"): a 32-byte header (magic, format version,
record layout version, boot time) and frames of a 8-byte head (payload length, kind, flags) then the payload —
kernel records as the probe wrote them, and the process and container state the engine learned outside the
capture (the start-up ``/proc`` scan, a ``/proc`` read for a process it had not seen, container metadata), each
written before the first record that needed it. ``CaptureWriter`` writes one; ``replay_capture`` reads one back
into ``SyscallEvent``s, decoding every record with ``engine.sources.syscall.ebpf.decode.Decoder``.

Must not: read ``/proc`` or the kernel itself, or evaluate rules.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Self

import orjson

from engine.events.syscall import ContainerInfo, ProcessInfo, SyscallEvent, build_record_object, record_fields
from engine.state.proctable import ProcessTable

MAGIC = b"FALCOPY\x00"
VERSION = 1  # of the file format (header, frames)
LAYOUT = 1  # of the probe's records inside RECORD frames (decode.py's structs)
HEADER = struct.Struct("<8sHHIqQ")  # magic, version, header size, record layout, boot epoch ns, reserved
FRAME = struct.Struct("<IHH")  # payload length, kind, flags
RECORD, PROCESS, CONTAINER = 1, 2, 3
SNAPSHOT = 1  # PROCESS flag: from the start-up scan (else: read when a record named an unknown process)
MAX_FRAME = 1 << 20


class CaptureError(ValueError):
    """A capture that cannot be read: ``frame`` (from 1; 0 for the header) and ``offset`` say where."""

    def __init__(self, frame: int, offset: int, reason: str) -> None:
        super().__init__(f"frame {frame} at byte {offset}: {reason}")
        self.frame = frame
        self.offset = offset
        self.reason = reason


def is_capture(head: bytes) -> bool:
    return head[:len(MAGIC)] == MAGIC


class CaptureWriter:
    """Append frames to ``path`` (created or truncated); the header is written on open."""

    def __init__(self, path: Path | str, *, boot_ns: int) -> None:
        self.path = Path(path)
        self.boot_ns = boot_ns
        self.records = 0
        self.snapshot = False  # set while the start-up scan runs
        self._fh: IO[bytes] | None = None
        self._containers: dict[str, ContainerInfo | None] = {}

    def open(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("wb", buffering=1 << 20)
        self._fh.write(HEADER.pack(MAGIC, VERSION, HEADER.size, LAYOUT, self.boot_ns, 0))
        return self

    def _frame(self, kind: int, payload: bytes | memoryview, flags: int = 0) -> None:
        if self._fh is None:
            raise RuntimeError("capture writer is not open")
        self._fh.write(FRAME.pack(len(payload), kind, flags))
        self._fh.write(payload)

    def write_batch(self, data: bytes, spans: list[tuple[int, int]]) -> None:
        """The records of one ring batch (``spans`` of ``data``), in ring order."""
        view = memoryview(data)
        for at, length in spans:
            self._frame(RECORD, view[at:at + length])
        self.records += len(spans)

    def process(self, info: ProcessInfo | None, pid: int) -> None:
        fields = record_fields(info) if info is not None else {"pid": pid, "gone": True}
        self._frame(PROCESS, orjson.dumps(fields), SNAPSHOT if self.snapshot else 0)

    def reader(self, inner: Callable[[int], ProcessInfo | None]) -> Callable[[int], ProcessInfo | None]:
        """``inner`` (the table's ``/proc`` reader), recording what it returns."""
        def read(pid: int) -> ProcessInfo | None:
            info = inner(pid)
            if info is not None or not self.snapshot:
                self.process(info, pid)
            return info
        return read

    def containers(self, inner: Callable[[str], ContainerInfo | None]) -> Callable[[str], ContainerInfo | None]:
        """``inner`` (container metadata by id), recording each container state the first time it is seen."""
        def lookup(cid: str) -> ContainerInfo | None:
            info = inner(cid)
            if cid not in self._containers or self._containers[cid] != info:
                self._containers[cid] = info
                body = record_fields(info) if info is not None else {"id": cid, "gone": True}
                self._frame(CONTAINER, orjson.dumps(body))
            return info
        return lookup

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _frames(data: bytes | memoryview) -> Iterator[tuple[int, int, int, memoryview]]:
    view = memoryview(data)
    if len(view) < HEADER.size:
        raise CaptureError(0, 0, f"truncated header ({len(view)} of {HEADER.size} bytes)")
    magic, version, size, layout, _boot, _ = HEADER.unpack_from(view, 0)
    if magic != MAGIC:
        raise CaptureError(0, 0, "not a falco-py capture (bad magic)")
    if version != VERSION or layout != LAYOUT:
        raise CaptureError(0, 0, f"unsupported capture version {version} (record layout {layout}); this reader "
                                 f"knows version {VERSION} (layout {LAYOUT})")
    at, number, end = size, 0, len(view)
    while at < end:
        number += 1
        if at + FRAME.size > end:
            raise CaptureError(number, at, "truncated frame header")
        length, kind, flags = FRAME.unpack_from(view, at)
        if length > MAX_FRAME or at + FRAME.size + length > end:
            raise CaptureError(number, at, f"frame of {length} bytes runs past the end of the file")
        yield number, at, kind, view[at + FRAME.size:at + FRAME.size + length]
        at += FRAME.size + length
        _ = flags


def replay_capture(data: bytes, *, on_frame: Callable[[], None] | None = None) -> Iterator[SyscallEvent]:
    """The events of a capture, decoded as the live backend decoded them (raises ``CaptureError``)."""
    from engine.sources.syscall.ebpf.decode import Decoder
    if len(data) >= HEADER.size and data[:len(MAGIC)] == MAGIC:
        boot_ns = HEADER.unpack_from(data, 0)[4]
    else:
        boot_ns = 0
    pending: dict[int, ProcessInfo | None] = {}
    known: dict[str, ContainerInfo | None] = {}
    table = ProcessTable(reader=lambda pid: pending.pop(pid, None))
    decoder = Decoder(table, boot_ns=boot_ns, containers=known.get, live=False)
    decode = decoder.decode
    for number, at, kind, payload in _frames(data):
        if on_frame is not None:
            on_frame()
        try:
            if kind == RECORD:
                event = decode(payload)
                if event is not None:
                    yield event
            elif kind == PROCESS:
                obj = orjson.loads(payload)
                if obj.get("gone"):
                    pending[int(obj["pid"])] = None
                    continue
                info: ProcessInfo = build_record_object(ProcessInfo, obj, "process")
                if FRAME.unpack_from(data, at)[2] & SNAPSHOT:
                    table.put(info)
                else:
                    pending[info.pid] = info
            elif kind == CONTAINER:
                obj = orjson.loads(payload)
                known[str(obj["id"])] = None if obj.get("gone") else build_record_object(ContainerInfo, obj,
                                                                                         "container")
            else:
                raise CaptureError(number, at, f"unknown frame kind {kind}")
        except CaptureError:
            raise
        except (struct.error, ValueError, TypeError, KeyError, IndexError) as exc:
            raise CaptureError(number, at, f"bad {('record', 'process', 'container')[kind - 1]} frame: {exc}"
                               ) from None


__all__ = ["MAGIC", "CaptureError", "CaptureWriter", "is_capture", "replay_capture"]
