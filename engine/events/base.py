"""What every event carries, whatever source decoded it: the shared event contract.

Owns: the ``Event`` protocol — ``source`` (the event source: ``"k8s_audit"`` or ``"syscall"``), ``ts`` (the
event's own time, nanoseconds since the epoch) and ``evt_type`` (the syscall event type; ``None`` for k8s audit
events) — and ``cache``, the per-event store of field values already extracted. Rules, fields, outputs and the
runtime take events as ``Event``; a field class narrows it to the model its source produces.

Must not: import a source or a concrete event model.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Event(Protocol):
    @property
    def source(self) -> str: ...

    @property
    def ts(self) -> int: ...

    @property
    def evt_type(self) -> str | None: ...

    @property
    def cache(self) -> dict[object, object]: ...
