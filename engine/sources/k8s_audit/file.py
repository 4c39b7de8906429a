"""The Kubernetes audit-log file source: follow a JSON-lines audit log like ``tail -F``.

Owns: following one path across rotation by rename (the old file is read to its end first), truncation (restart
at offset 0), and a file that appears later; starting at the end or the beginning; buffering a partial last line
until its newline arrives; decoding each read chunk's lines as one lazy batch (``decode_stream``: ``poll_batches``
and ``run_batches`` hand those out, ``poll_once`` and ``run`` their events) with bad or oversized lines dropped,
counted by reason and logged rate-limited with ``file:line`` (``ItemErrors``, the policy shared with the webhook).

Must not: evaluate rules (the ``deliver`` given to ``run_batches`` does), use inotify or other platform-only APIs (polling
keeps it portable and cheap at audit-log rates), or import prometheus_client.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from engine.events.k8s_audit import SOURCE, AuditEvent
from engine.fields.base import FieldClass
from engine.outputs.queue import RateLimitedLog
from engine.sources.base import Deliver, SourceStats
from engine.sources.k8s_audit.decode import AuditDecodeError, decode_stream, in_cluster
from engine.sources.k8s_audit.errors import ItemErrors

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20


class AuditFileSource:
    """Follow ``path``; ``run_batches(deliver)`` delivers events until ``stop()``; ``poll_once()`` is one read
    pass. ``open`` does nothing (the file is opened by the first pass, and may appear later)."""

    name = SOURCE

    def __init__(
        self,
        path: str | Path,
        *,
        start_at: str = "end",
        poll_interval: float = 0.25,
        max_line_bytes: int = 256 << 10,
        cluster_name: str | None = None,
    ) -> None:
        if start_at not in ("end", "beginning"):
            raise ValueError(f"sources.k8s_audit.file.start_at: expected end or beginning, got {start_at!r}")
        self.path = Path(path)
        self.start_at = start_at
        self.poll_interval = poll_interval
        self.max_line = max_line_bytes
        self.cluster_name = cluster_name  # ka.cluster.name of every event, when set
        self._fh: IO[bytes] | None = None
        self._ino: int | None = None
        self._pos = 0
        self._line = 0  # lines completed in the current file
        self._buf = bytearray()
        self._skipping = False  # inside an oversized line: discard up to its newline
        self._first_open = True
        self._stop = threading.Event()
        self._limiter = RateLimitedLog(log, interval=10.0)  # for problems that are not a dropped line
        self._stats = SourceStats(detail={"rotations": 0, "truncations": 0})
        self.errors = ItemErrors(self._stats, log)

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        from engine.fields import field_classes

        return tuple(fc for fc in field_classes() if SOURCE in fc.sources)

    @property
    def following(self) -> bool:
        """Whether the log is open (a late file is not yet)."""
        return self._fh is not None

    def open(self) -> None:
        """Nothing to acquire up front: the first pass opens the log (a file that is not there yet is awaited)."""

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._close()

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return False  # nothing is filtered at the source

    def describe(self) -> str:
        return f"{self.name} file {self.path}"

    def run(self, callback: Callable[[AuditEvent], object]) -> None:
        for batch in self._follow():
            for event in batch:
                callback(event)
        self._close()

    def run_batches(self, deliver: Deliver) -> None:
        """Deliver one read chunk's lines at a time, each a lazy batch (``Engine.process_batch``), until ``stop``."""
        for batch in self._follow():
            deliver(batch)
        self._close()

    def __iter__(self) -> Iterator[AuditEvent]:
        for batch in self._follow():
            yield from batch

    def _follow(self) -> Iterator[Iterator[AuditEvent]]:
        """Batches until ``stop()``: each pass reads what is new; a pass that finds nothing waits a poll interval."""
        while not self._stop.is_set():
            got = False
            for batch in self.poll_batches():
                got = True
                yield batch
            if not got:
                self._stop.wait(self.poll_interval)

    # -- one pass ----------------------------------------------------------------------------------------------

    def poll_once(self) -> Iterator[AuditEvent]:
        """Read whatever is new (following rotation/truncation) and yield its complete lines' events."""
        for batch in self.poll_batches():
            yield from batch

    def poll_batches(self) -> Iterator[Iterator[AuditEvent]]:
        """``poll_once`` as batches: per read chunk, its complete lines' events, decoded as the batch is read."""
        if self._fh is None and not self._open():
            return
        yield from self._drain()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # rotated away and not recreated yet: keep the old handle (already read to its end)
        if st.st_ino != self._ino:
            yield from self._drain()  # anything written to the old file before the switch
            self._flush_partial()
            self._stats.detail["rotations"] += 1
            self._close()
            if self._open():
                yield from self._drain()
        elif st.st_size < self._pos:
            self._stats.detail["truncations"] += 1
            log.info("%s was truncated; reading from its start", self.path)
            assert self._fh is not None
            self._fh.seek(0)
            self._pos = 0
            self._line = 0
            self._buf.clear()
            self._skipping = False
            yield from self._drain()

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held across polls, closed in _close()
        except FileNotFoundError:
            self._first_open = False  # a file that appears later is new: read it from its start
            return False
        except OSError as exc:
            self._limiter.warning("open", "cannot open audit log %s: %s", self.path, exc)
            return False
        self._fh = fh
        self._ino = os.fstat(fh.fileno()).st_ino
        self._pos = 0
        self._line = 0
        if self._first_open and self.start_at == "end":
            # Start after what is there now, knowing how many lines we skipped (for file:line in messages).
            while chunk := fh.read(READ_CHUNK):
                self._pos += len(chunk)
                self._line += chunk.count(b"\n")
            if self._pos and not self._at_line_start(fh):
                self._skipping = True  # we joined in the middle of a line: skip to its end
        self._first_open = False
        return True

    def _at_line_start(self, fh: IO[bytes]) -> bool:
        fh.seek(self._pos - 1)
        last = fh.read(1)
        return last == b"\n"

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _drain(self) -> Iterator[Iterator[AuditEvent]]:
        fh = self._fh
        if fh is None:
            return
        while chunk := fh.read(READ_CHUNK):
            self._pos += len(chunk)
            self._stats.bytes += len(chunk)
            start = 0
            lines: list[bytes] = []
            numbers: list[int] = []  # each line's number in the file, for drop messages
            while (nl := chunk.find(b"\n", start)) >= 0:
                piece = chunk[start:nl]
                start = nl + 1
                self._line += 1
                if self._skipping:
                    self._skipping = False
                    self._buf.clear()
                    continue
                if self._buf:
                    self._buf += piece
                    line = bytes(self._buf)
                    self._buf.clear()
                else:
                    line = piece
                if self._accept(line):
                    lines.append(line)
                    numbers.append(self._line)
            if lines:
                yield self._decode(lines, numbers)
            if not self._skipping:
                self._buf += chunk[start:]
                if len(self._buf) > self.max_line:
                    self._buf.clear()
                    self._skipping = True
                    self._drop("line_too_large", self._line + 1, f"line longer than {self.max_line} bytes")

    def _flush_partial(self) -> None:
        if self._buf:  # an unterminated last line of a rotated file: it will never complete
            self._drop("partial_line", self._line + 1, "unterminated last line before rotation")
            self._buf.clear()
        self._skipping = False

    def _accept(self, line: bytes) -> bool:
        """Whether a complete line is to be decoded: not oversized (dropped, counted), not blank."""
        if len(line) > self.max_line:
            self._drop("line_too_large", self._line, f"line longer than {self.max_line} bytes")
            return False
        if not line or line.isspace():
            return False
        self._stats.payloads += 1
        return True

    def _decode(self, lines: list[bytes], numbers: list[int]) -> Iterator[AuditEvent]:
        def rejected(position: int, exc: AuditDecodeError) -> None:
            self._drop("invalid_line", numbers[position], exc.message)

        def done(_read: int, events: int) -> None:
            self._stats.events += events

        events = decode_stream(lines, on_error=rejected, on_done=done)
        return events if self.cluster_name is None else in_cluster(events, self.cluster_name)

    def _drop(self, reason: str, line: int, message: str) -> None:
        if reason == "invalid_line":
            self._stats.bad_payloads += 1
        self.errors.drop(reason, f"{self.path}:{line}", message)

    def stats(self) -> SourceStats:
        with self.errors.lock:
            return self._stats.snapshot()
