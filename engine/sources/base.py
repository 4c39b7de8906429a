"""The ``Source`` protocol every event source follows (k8s audit webhook/file/replay, syscall backends).

Owns: the protocol and the ``SourceStats`` counters shape. A source has a ``name`` (the event source it feeds:
``"k8s_audit"`` or ``"syscall"``), the ``field_classes`` its events can be read with, a way to deliver events
(``run(callback)`` and/or iteration) and ``stats()``. A source that receives events in groups (a webhook request,
a chunk of a log file, a replay) may also offer ``run_batches(callback)``, handing each group to ``callback`` as
one iterable (``Engine.process_batch``): the service prefers it, so counters are updated once per group. Sources
never evaluate rules and never format alerts.

Must not: import a concrete source, the rules engine or prometheus_client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from engine.fields.base import FieldClass


@runtime_checkable
class Event(Protocol):
    """What every event carries (the shared event contract)."""

    source: str
    ts: int  # nanoseconds since the epoch: the event's own time
    evt_type: str | None
    cache: dict[Any, Any]


@runtime_checkable
class Source(Protocol):
    name: str

    @property
    def field_classes(self) -> tuple[FieldClass, ...]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def run(self, callback: Callable[[Any], object]) -> None:
        """Deliver every event to ``callback`` until the source ends (or is stopped)."""

    def stats(self) -> dict[str, int]: ...


@runtime_checkable
class BatchSource(Source, Protocol):
    def run_batches(self, callback: Callable[[Iterable[Any]], object]) -> None:
        """Deliver the events group by group (each an iterable, read once) until the source ends."""


@dataclass(slots=True)
class SourceStats:
    """Plain counters a source keeps; ``engine.metrics`` reads them through ``Source.stats()``."""

    events: int = 0  # events delivered
    payloads: int = 0  # payloads (lines, requests) read
    bad_payloads: int = 0  # payloads rejected (not JSON, not audit events)
    drops: int = 0  # events lost (full queues, kernel loss)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
