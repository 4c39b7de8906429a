"""Recording live syscall events as JSON lines (the version-2 stream of ``engine.sources.syscall.record.stream``: each
process state once, events referring to it), for replay and tests.

Owns: ``Recorder`` (append each event's lines, flushed in batches and on close) and ``record_events`` (drain an
iterator into a file). Reading a recording back is ``engine.sources.replay.ReplaySource(path, name="syscall")``.

Must not: filter or change events, or read kernel interfaces.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

from engine.sources.syscall.record.stream import StreamEncoder

if TYPE_CHECKING:
    from engine.events.syscall import SyscallEvent


class Recorder:
    """Append events to ``path`` (created or truncated) as JSON lines."""

    def __init__(self, path: Path | str, *, flush_every: int = 256) -> None:
        self.path = Path(path)
        self.flush_every = flush_every
        self.count = 0
        self._fh: IO[bytes] | None = None
        self._encoder = StreamEncoder()

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("wb")
        self._encoder = StreamEncoder()  # a new file starts with no process lines
        return self

    def write(self, event: SyscallEvent) -> None:
        if self._fh is None:
            raise RuntimeError("recorder is not open")
        self._fh.write(self._encoder.encode(event))
        self.count += 1
        if self.count % self.flush_every == 0:
            self._fh.flush()

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def record_events(events: Iterable[SyscallEvent], path: Path | str) -> int:
    """Write every event of ``events`` to ``path``; returns how many were written."""
    with Recorder(path) as recorder:
        for event in events:
            recorder.write(event)
        return recorder.count
