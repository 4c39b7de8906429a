"""The recording stream (format version 2): each process state written once, events referring to it by id.

A version-1 line carries the event's whole process chain, environment included: about 18 KB per event on a
busy node, so a live recording grew by ~100 MB/s and replay spent its time rebuilding the same ancestors. A
version-2 stream writes a *process line* the first time a process state is needed and whenever it changes; event
lines name their process by that line's id::

    {"v": 2, "id": 7, "parent": 3, "proc": {"pid": 42, "name": "cat", ...}}
    {"v": 2, "type": "openat", "ts": ..., "proc": 7, "args": {...}, "fd": {...}, "container": null}
    {"v": 2, "reset": true}

A process line's ``parent`` is the id of an earlier process line (or null). Ids are never reused for different
content: a changed process (or a process whose parent changed) gets a new line and a new id, so every event reads
exactly the state it had when recorded. ``reset`` tells the reader that the writer forgot every id (its memory is
bounded); later lines only refer to ids written after it. Version-1 lines (self-contained, ``procs`` list) may
appear anywhere in a stream and are read as before.

Owns: ``StreamEncoder`` (event -> the lines to append) and ``StreamDecoder`` (line -> event, or None for process
and reset lines).
Must not: open files (``engine.sources.syscall.record.recorder`` writes, ``engine.sources.replay`` reads) or change events.
"""

from __future__ import annotations

import operator
from dataclasses import fields
from typing import Any

import orjson

from engine.events.syscall import ProcessInfo, SyscallEvent, build_record_object, record_fields

STREAM_VERSION = 2
_PROC_ATTRS = tuple(f.name for f in fields(ProcessInfo) if f.name != "parent")
_snapshot = operator.attrgetter(*_PROC_ATTRS)  # one C call: every attribute of a process, as a tuple


class StreamEncoder:
    """Turn events into stream lines, writing each distinct process state once.

    ``max_known``: process states remembered before the encoder forgets them all and writes a reset line.
    """

    def __init__(self, *, max_known: int = 65536) -> None:
        self.max_known = max_known
        # id(ProcessInfo) -> (attribute snapshot, parent's line id, own line id). The snapshot keeps the object's
        # values alive, so an equal snapshot under a reused id() is equal content, never a stale match.
        self._known: dict[int, tuple[tuple[Any, ...], int | None, int]] = {}
        self._next_id = 1
        self.process_lines = 0

    def encode(self, event: SyscallEvent) -> bytes:
        """The line(s) for ``event``, newline-terminated: process lines it needs first, then the event line."""
        out: list[bytes] = []
        if len(self._known) >= self.max_known:
            self._known.clear()
            out.append(orjson.dumps({"v": STREAM_VERSION, "reset": True}))
        chain: list[ProcessInfo] = []
        seen: set[int] = set()
        proc = event.proc
        while proc is not None and id(proc) not in seen:
            seen.add(id(proc))
            chain.append(proc)
            proc = proc.parent
        parent_id: int | None = None
        known = self._known
        for proc in reversed(chain):  # oldest ancestor first: a process line only refers to earlier lines
            snap = _snapshot(proc)
            got = known.get(id(proc))
            if got is not None and got[1] == parent_id and got[0] == snap:
                parent_id = got[2]
                continue
            line_id = self._next_id
            self._next_id += 1
            out.append(orjson.dumps({"v": STREAM_VERSION, "id": line_id, "parent": parent_id,
                                     "proc": record_fields(proc)}))
            self.process_lines += 1
            known[id(proc)] = (snap, parent_id, line_id)
            parent_id = line_id
        obj = event.to_dict(procs=False)
        obj["v"] = STREAM_VERSION
        obj["proc"] = parent_id
        out.append(orjson.dumps(obj))
        out.append(b"")
        return b"\n".join(out)


class StreamDecoder:
    """Read stream lines back; keeps the process states written so far."""

    def __init__(self) -> None:
        self._procs: dict[int, ProcessInfo] = {}

    def decode(self, line: bytes | str) -> SyscallEvent | None:
        """The event of an event line; None for a process or reset line. Raises ``ValueError``/``TypeError``
        naming what is wrong (a reference to a process id not written before included)."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if type(obj) is not dict or obj.get("v") != STREAM_VERSION:
            return SyscallEvent.from_dict(obj)  # version 1 (or a version error worded by from_dict)
        if "type" in obj:
            ref = obj.get("proc")
            proc = self._lookup(ref, "proc") if ref is not None else None
            return SyscallEvent.from_dict(obj, proc=proc)
        if obj.get("reset") is True:
            self._procs.clear()
            return None
        line_id, parent = obj.get("id"), obj.get("parent")
        if type(line_id) is not int:
            raise TypeError(f"process line 'id' must be an integer, got {line_id!r}")
        built: ProcessInfo = build_record_object(ProcessInfo, obj.get("proc"), "proc")
        built.parent = self._lookup(parent, "parent") if parent is not None else None
        self._procs[line_id] = built
        return None

    def _lookup(self, ref: Any, key: str) -> ProcessInfo:
        got = self._procs.get(ref) if type(ref) is int else None
        if got is None:
            raise ValueError(f"'{key}' refers to process line {ref!r}, which was not written before")
        return got
