"""What every live syscall backend shares: how its stream of events is delivered, and what it is read with.

Owns: ``LiveBackend`` (the ``Source`` protocol plus ``events(timeout=)``, the events as they are read) and
``EventStream``, the base a kernel backend derives from: given the backend's ``events()``, it is the one
``run_batches`` (each event handed to the engine as soon as it is read, so nothing waits for a batch to fill),
iteration, and the syscall field classes the events are read with.

Must not: read the kernel itself (each backend does, in its own package), evaluate rules, or keep counters (the
backend's ``SourceStats`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from engine.events.syscall import SyscallEvent
from engine.fields.base import FieldClass
from engine.sources.base import Deliver, Source, deliver_each


class LiveBackend(Source, Protocol):
    """A kernel backend: a ``Source`` whose events can also be iterated as they are read."""

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]: ...


class EventStream:
    """Delivery and iteration for a backend that defines ``events()``."""

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]:
        """Decoded events until ``stop()``; with ``timeout``, also ends after that long without input."""
        raise NotImplementedError

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        from engine.fields import field_classes
        return tuple(fc for fc in field_classes() if "syscall" in fc.sources)

    def __iter__(self) -> Iterator[SyscallEvent]:
        return self.events()

    def run_batches(self, deliver: Deliver) -> None:
        """Each event as soon as it is read and decoded, until ``stop``."""
        deliver_each(self.events(), deliver)
