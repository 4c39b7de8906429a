"""Replay recorded events at a steady rate, optionally in a loop: a server-mode source for measurements.

Owns: pacing. The events come from ``ReplaySource`` (decoded once, at start) and are delivered at ``rate``
events per second (0 = as fast as the engine takes them), from the start again when ``loop`` is set, until
``stop()``. It is what ``sources.syscall.backend: replay`` runs, so a tuning run can measure the engine's syscall
cost on a recorded stream without touching the kernel.

Must not: change events (their recorded times stay as recorded) or drop any: pacing only waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from engine.events.base import Event
from engine.fields.base import FieldClass
from engine.sources.base import Deliver, deliver_each
from engine.sources.replay import RecordedSource, ReplaySource


class PacedReplay(RecordedSource):
    """A ``ReplaySource``'s events, delivered at ``rate`` events/s (0: unpaced), looped when asked."""

    def __init__(self, path: Path | str, *, name: str = "syscall", rate: float = 0.0, loop: bool = False,
                 start_after: float = 0.0) -> None:
        super().__init__(name)
        self._replay = ReplaySource(path, name=name)
        self.rate = float(rate)
        self.loop = bool(loop)
        self.start_after = float(start_after)
        self._events: list[Event] | None = None

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        return self._replay.field_classes

    def open(self) -> None:
        """Read and decode the recording now, so a bad file is reported before serving starts."""
        self._load()

    def describe(self) -> str:
        pace = f"{self.rate:g} events/s" if self.rate > 0 else "unpaced"
        return f"{self.name} replay of {self._replay.path} ({pace}{', looped' if self.loop else ''})"

    def _load(self) -> list[Event]:
        if self._events is None:
            self._events = list(self._replay)
            self._stats.payloads = len(self._events)
        return self._events

    def __iter__(self) -> Iterator[Event]:
        events = self._load()
        if not events or self._stop.wait(self.start_after):
            return
        start = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            for event in events:
                if self._stop.is_set():
                    return
                if self.rate > 0:
                    delay = start + sent / self.rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                event.cache.clear()  # a looped event is a new event for extraction caches
                sent += 1
                self._stats.events += 1
                yield event
            if not self.loop:
                return

    def run_batches(self, deliver: Deliver) -> None:
        """Each event as it is due (a paced stream has nothing to group)."""
        deliver_each(iter(self), deliver)
