"""Replay recorded events from a file: the test double for every live source, and ``engine run --events``.

Owns: reading a file of Kubernetes audit events (one JSON ``Event``, an ``EventList``, a JSON array, or JSON
lines of any of these) or of syscall events (JSON lines of ``SyscallEvent.to_json()``), and reporting bad input
as ``ReplayError`` naming the file and line.

Must not: evaluate rules, format alerts, or sleep to honour recorded timing (events are replayed as fast as the
consumer takes them; every event keeps its own recorded time in ``ts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from engine.fields.base import FieldClass
from engine.sources.base import SourceStats
from engine.sources.k8s_audit_event import AuditDecodeError, decode_payload, events_from_json

SOURCES = ("k8s_audit", "syscall")


class ReplayError(ValueError):
    """Bad replay input; ``str()`` is ``<file>:<line>: <reason>``."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class ReplaySource:
    """A ``Source`` reading recorded events from ``path`` for event source ``name``."""

    def __init__(self, path: Path | str, *, name: str = "k8s_audit") -> None:
        if name not in SOURCES:
            raise ValueError(f"unknown event source {name!r} (known: {', '.join(SOURCES)})")
        self.path = Path(path)
        self.name = name
        self._stats = SourceStats()

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        from engine.fields import field_classes
        return tuple(fc for fc in field_classes() if self.name in fc.sources)

    def stats(self) -> dict[str, int]:
        return self._stats.as_dict()

    def run(self, callback: Callable[[Any], object]) -> None:
        for event in self:
            callback(event)

    def __iter__(self) -> Iterator[Any]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ReplayError(self.path, 0, f"cannot read: {exc.strerror or exc}") from None
        if self.name == "k8s_audit":
            yield from self._audit(data)
        else:
            yield from self._syscall(data)

    def _audit(self, data: bytes) -> Iterator[Any]:
        whole: Any = None
        try:
            whole = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # not one JSON document: read it as JSON lines below
        if whole is not None:
            self._stats.payloads += 1
            try:
                events = events_from_json(whole, raw=None)
            except AuditDecodeError as exc:
                self._stats.bad_payloads += 1
                # One document: the error names the item inside it ("item 3: ..."); the document starts at line 1.
                raise ReplayError(self.path, 1, exc.message) from None
            for event in events:
                self._stats.events += 1
                yield event
            return
        for lineno, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            self._stats.payloads += 1
            try:
                events = decode_payload(line)
            except AuditDecodeError as exc:
                self._stats.bad_payloads += 1
                raise ReplayError(self.path, lineno, exc.message) from None
            for event in events:
                self._stats.events += 1
                yield event

    def _syscall(self, data: bytes) -> Iterator[Any]:
        from engine.sources.record_stream import StreamDecoder  # only replay of syscall recordings needs it
        decode = StreamDecoder().decode
        for lineno, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            self._stats.payloads += 1
            try:
                event = decode(line)
            except Exception as exc:  # noqa: BLE001 - any decoding failure is bad input at this line
                self._stats.bad_payloads += 1
                raise ReplayError(self.path, lineno, f"not a recorded syscall event: {exc}") from None
            if event is None:
                continue  # a process (or reset) line of a version-2 stream
            self._stats.events += 1
            yield event


def replay(path: Path | str, *, name: str = "k8s_audit") -> Iterator[Any]:
    """Iterate the events recorded in ``path`` (raises ``ReplayError`` on bad input)."""
    return iter(ReplaySource(path, name=name))
