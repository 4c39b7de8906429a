"""What every live syscall backend shares: how its stream of events is delivered, and what it is read with.

Owns: ``LiveBackend`` (the ``Source`` protocol plus ``events(timeout=)``, the events as they are read) and
``EventStream``, the base a kernel backend derives from: given the backend's ``events()``, it is the one
``run_batches`` (each event handed to the engine as soon as it is read, so nothing waits for a batch to fill),
iteration, the syscall field classes the events are read with, and the lifecycle every backend has: ``stop()``
(the read loop ends), ``close()`` (stop, stop the pod watcher, then the backend's own ``release()``; safe twice)
and use as a context manager (``open()`` on entry, ``close()`` on exit).

Must not: read the kernel itself (each backend does, in its own package), evaluate rules, or keep counters (the
backend's ``SourceStats`` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, Self

from engine.events.syscall import SyscallEvent
from engine.fields.base import FieldClass
from engine.sources.base import Deliver, Source, deliver_each

if TYPE_CHECKING:
    from engine.state.pods import PodWatcher


class LiveBackend(Source, Protocol):
    """A kernel backend: a ``Source`` whose events can also be iterated as they are read."""

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]: ...


class EventStream:
    """Delivery, iteration and lifecycle for a backend that defines ``open()``, ``events()`` and ``release()``;
    its read loop runs while ``_stopping`` is false."""

    watcher: PodWatcher | None = None  # started by the backend's open(), stopped by close()
    _stopping: bool = False

    def open(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        """Give back what ``open()`` took (sockets, kernel rules, programs); called by ``close()``."""
        raise NotImplementedError

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        self._stopping = True
        if self.watcher is not None:
            self.watcher.stop()
        self.release()

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
