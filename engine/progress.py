"""Stall detection for the engine's deliveries: a source thread stuck inside one hand-off to the engine.

Owns: ``DeliveryWatch``. ``wrap(name, deliver)`` counts the calls a source makes into the engine (a batch or an
event each) as they start and finish; ``stalled()`` names the sources whose current call has been running for at
least ``limit`` seconds, as seen by successive checks (``/healthz`` probes). A source waiting for input is not in
a call, so a quiet cluster never looks stalled: only work that started and does not finish does (a rule or a
regular expression that never returns, a lock that is never released).

Must not: know sources or the engine beyond the callables it wraps, or serve HTTP (``engine.metrics`` does).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Calls:
    __slots__ = ("finished", "seen", "started")

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.seen: tuple[int, float] | None = None  # (call number, when a check first saw it running)


class DeliveryWatch:
    """Per-source counts of deliveries into the engine, and which of them have been running too long."""

    def __init__(self, limit: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: dict[str, _Calls] = {}
        self._lock = threading.Lock()  # checks may come from several HTTP threads at once

    def wrap(self, name: str, deliver: Callable[[T], R]) -> Callable[[T], R]:
        """``deliver``, counted under ``name``: two integer stores per call, nothing else on the hot path."""
        calls = self._calls[name] = _Calls()

        def watched(arg: T) -> R:
            calls.started += 1
            try:
                return deliver(arg)
            finally:
                calls.finished = calls.started

        return watched

    def stalled(self) -> dict[str, float]:
        """``{name: seconds}`` of the sources whose running call a check first saw at least ``limit`` seconds
        ago (the seconds are since that first sighting, so a lower bound of the call's age)."""
        now = self._clock()
        out: dict[str, float] = {}
        with self._lock:
            for name, calls in self._calls.items():
                started = calls.started
                if calls.finished == started:  # idle, or between calls
                    calls.seen = None
                    continue
                if calls.seen is None or calls.seen[0] != started:
                    calls.seen = (started, now)
                elif now - calls.seen[1] >= self.limit:
                    out[name] = round(now - calls.seen[1], 1)
        return out
