"""Replay recorded events from a file: the test double for every live source, and ``engine run --events``.

Owns: reading a file of Kubernetes audit events (one JSON ``Event``, an ``EventList``, a JSON array, or JSON
lines of any of these) or of syscall events (JSON lines of ``SyscallEvent.to_json()``), event by event or in lazy
batches (``batches``, ``run_batches``), and reporting bad input as ``ReplayError`` naming the file and line.

Must not: evaluate rules, format alerts, or sleep to honour recorded timing (events are replayed as fast as the
consumer takes them; every event keeps its own recorded time in ``ts``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import orjson

from engine.events.base import Event
from engine.fields.base import FieldClass
from engine.sources.base import Deliver, SourceStats
from engine.sources.k8s_audit.decode import AuditDecodeError, decode_stream, events_from_json

BATCH = 512  # events (or lines) per batch handed to the engine

SOURCES = ("k8s_audit", "syscall")


class ReplayError(ValueError):
    """Bad replay input; ``str()`` is ``<file>:<line>: <reason>``."""

    def __init__(self, path: Path | str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


class RecordedSource:
    """The lifecycle every replay shares: nothing is held open between reads, so ``open`` and ``close`` have
    nothing to acquire or release, ``stop`` ends the replay at the next event or batch, and everything read is
    captured (there is no kernel filter to narrow)."""

    def __init__(self, name: str) -> None:
        if name not in SOURCES:
            raise ValueError(f"unknown event source {name!r} (known: {', '.join(SOURCES)})")
        self.name = name
        self._stats = SourceStats()
        self._stop = threading.Event()

    def stats(self) -> SourceStats:
        return self._stats.snapshot()

    def open(self) -> None:
        """Nothing to acquire: the file is read when the events are."""

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Nothing to release: the file is read whole and not kept open."""

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return False  # nothing is filtered at the source


class ReplaySource(RecordedSource):
    """A ``Source`` reading recorded events from ``path`` for event source ``name``; it ends at the end of the
    file (or at the next batch after ``stop``)."""

    def __init__(self, path: Path | str, *, name: str = "k8s_audit") -> None:
        super().__init__(name)
        self.path = Path(path)

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        from engine.fields import field_classes
        return tuple(fc for fc in field_classes() if self.name in fc.sources)

    def describe(self) -> str:
        return f"{self.name} replay of {self.path}"

    def run_batches(self, deliver: Deliver) -> None:
        for batch in self.batches():
            if self._stop.is_set():
                return
            deliver(batch)

    def __iter__(self) -> Iterator[Event]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[Iterable[Event]]:
        """The events in batches of up to ``BATCH`` (lazy: read as the batch is read, as ``Engine.process_batch``
        wants them). Bad input raises ``ReplayError`` once the events before it have been read."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ReplayError(self.path, 0, f"cannot read: {exc.strerror or exc}") from None
        self._stats.bytes += len(data)
        if self.name == "k8s_audit":
            yield from self._audit(data)
        else:
            yield from _lazy_chunks(self._syscall(data), BATCH)

    def _audit(self, data: bytes) -> Iterator[Iterable[Any]]:
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
            for start in range(0, len(events), BATCH):
                batch = events[start:start + BATCH]
                self._stats.events += len(batch)
                yield batch
            return
        numbered = [(lineno, line) for lineno, line in enumerate(data.splitlines(), start=1)
                    if line and not line.isspace()]
        for start in range(0, len(numbered), BATCH):
            chunk = numbered[start:start + BATCH]
            yield decode_stream([line for _, line in chunk], on_error=self._rejected(chunk), on_done=self._count)

    def _rejected(self, chunk: list[tuple[int, bytes]]) -> Callable[[int, AuditDecodeError], None]:
        def rejected(position: int, exc: AuditDecodeError) -> None:
            self._stats.bad_payloads += 1
            raise ReplayError(self.path, chunk[position][0], exc.message) from None
        return rejected

    def _count(self, payloads: int, events: int) -> None:
        self._stats.payloads += payloads
        self._stats.events += events

    def _syscall(self, data: bytes) -> Iterator[Any]:
        from engine.sources.syscall.record.stream import (
            StreamDecoder,  # only replay of syscall recordings needs it
        )
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


def _lazy_chunks(events: Iterator[Any], size: int) -> Iterator[Iterator[Any]]:
    """Consecutive lazy batches of up to ``size`` items of ``events`` (an error is raised where it occurs)."""
    for first in events:
        yield chain((first,), islice(events, size - 1))


def replay(path: Path | str, *, name: str = "k8s_audit") -> Iterator[Event]:
    """Iterate the events recorded in ``path`` (raises ``ReplayError`` on bad input)."""
    return iter(ReplaySource(path, name=name))
