"""The ``Source`` protocol every event source follows, and the ``SourceStats`` it reports.

Owns: the protocol, its lifecycle, and the typed counters shape. A source is built from its config (checking it,
and reserving what cannot be shared, such as a listening port, so a conflict is reported before anything
starts), then driven in this order by ``engine.service``:

    open()                acquire what it reads from (start serving, subscribe, set kernel audit rules);
                          raises ``OSError`` (or an exception with an ``exit_code``) when it cannot
    run_batches(deliver)  in the source's own thread: hand events to ``deliver`` a group at a time (a webhook
                          request, a chunk of a log file, a replay batch) until the source ends or is stopped
    stop()                from another thread: stop taking new input; ``run_batches`` returns once what was
                          accepted has been delivered
    close()               release what ``open`` acquired and restore any kernel state; safe to call twice

``stats()`` may be called at any time from any thread and returns a snapshot (``engine.metrics`` reads it by
attribute). ``name`` is the event source fed (``"k8s_audit"`` or ``"syscall"``), ``field_classes`` the field
classes its events are read with, ``describe()`` one line for the log. ``update_event_types`` narrows what a
kernel source captures when a reload changes the syscalls the rules need.

Must not: import a concrete source, the rules engine or prometheus_client. Sources never evaluate rules and
never format alerts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

from engine.events.base import Event
from engine.fields.base import FieldClass

Deliver = Callable[[Iterable[Event]], object]
"""What ``run_batches`` hands each group of events to (``Engine.process_batch``); a group may be lazy (read once,
in order), and the source counts it delivered once ``deliver`` returns."""


@dataclass(slots=True)
class HttpStats:
    """Request counters of a source that serves HTTP (the audit webhook)."""

    requests_by_status: dict[int, int] = field(default_factory=dict)
    rejected_by_reason: dict[tuple[str, int], int] = field(default_factory=dict)  # (reason code, status) -> n
    latency_buckets: tuple[tuple[float, int], ...] = ()  # (upper bound in seconds, cumulative count)
    latency_count: int = 0
    latency_sum: float = 0.0


@dataclass(slots=True)
class SourceStats:
    """What a source has done so far. Sources keep one and return ``snapshot()`` from ``stats()``.

    ``drops`` counts events lost by the source itself, by a stable reason code (``invalid_line``,
    ``event_too_large``, ``socket_overflow``, ...); ``kernel_lost`` counts what the kernel reported lost before
    the source could read it. ``detail`` holds counters only one kind of source has (file rotations, audit
    records still being assembled), named as they are logged.
    """

    events: int = 0  # events delivered to the engine
    payloads: int = 0  # payloads read (lines, requests, datagrams)
    bad_payloads: int = 0  # payloads rejected whole
    bytes: int = 0  # bytes of input read
    kernel_lost: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    intake_depth: int | None = None  # events accepted and waiting for the engine thread, if it queues
    intake_capacity: int | None = None
    process_table: int | None = None  # processes tracked, for syscall sources
    http: HttpStats | None = None
    detail: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        """Every event lost: the source's drops and the kernel's."""
        return sum(self.drops.values()) + self.kernel_lost

    def snapshot(self) -> SourceStats:
        """A copy whose counters no longer change (what ``stats()`` returns)."""
        return replace(self, drops=Counter(self.drops), detail=dict(self.detail),
                       http=replace(self.http) if self.http is not None else None)


@runtime_checkable
class Source(Protocol):
    """An event source with an explicit lifecycle (see the module docstring for the order)."""

    name: str

    @property
    def field_classes(self) -> tuple[FieldClass, ...]: ...

    def open(self) -> None: ...

    def run_batches(self, deliver: Deliver) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def stats(self) -> SourceStats: ...

    def describe(self) -> str: ...

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        """Capture only ``event_types`` from now on (a reloaded ruleset's needs); True when the capture changed.
        Sources that capture everything they read return False."""
        ...


class SourceUnavailable(Exception):
    """A source that cannot run on this host or with these privileges; ``exit_code`` 4 at the CLI edge."""

    exit_code = 4


def deliver_each(events: Iterator[Event], deliver: Deliver) -> None:
    """Hand events that arrive one at a time (a kernel socket read per event) to ``deliver`` as groups of one,
    so the event reaches the engine as soon as it is read."""
    for event in events:
        deliver((event,))
