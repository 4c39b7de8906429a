"""Replay recorded events at a steady rate, optionally in a loop: a server-mode source for measurements.

Owns: pacing. The events come from ``ReplaySource`` (decoded once, at start) and are delivered at ``rate``
events per second (0 = as fast as the engine takes them), from the start again when ``loop`` is set, until
``stop()``. It is what ``sources.syscall.backend: replay`` runs, so a tuning run can measure the engine's syscall
cost on a recorded stream without touching the kernel.

Must not: change events (their recorded times stay as recorded) or drop any: pacing only waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.fields.base import FieldClass
from engine.sources.base import Deliver, SourceStats, deliver_each
from engine.sources.replay import ReplaySource


class PacedReplay:
    def __init__(self, path: Path | str, *, name: str = "syscall", rate: float = 0.0, loop: bool = False,
                 start_after: float = 0.0) -> None:
        self._replay = ReplaySource(path, name=name)
        self.name = name
        self.rate = float(rate)
        self.loop = bool(loop)
        self.start_after = float(start_after)
        self._events: list[Any] | None = None
        self._stats = SourceStats()
        self._stop = threading.Event()

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        return self._replay.field_classes

    def stats(self) -> SourceStats:
        return self._stats.snapshot()

    def open(self) -> None:
        """Read and decode the recording now, so a bad file is reported before serving starts."""
        self._load()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Nothing to release."""

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return False  # nothing is filtered at the source

    def describe(self) -> str:
        pace = f"{self.rate:g} events/s" if self.rate > 0 else "unpaced"
        return f"{self.name} replay of {self._replay.path} ({pace}{', looped' if self.loop else ''})"

    def _load(self) -> list[Any]:
        if self._events is None:
            self._events = list(self._replay)
            self._stats.payloads = len(self._events)
        return self._events

    def __iter__(self) -> Iterator[Any]:
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

    def run(self, callback: Callable[[Any], object]) -> None:
        for event in self:
            callback(event)

    def run_batches(self, deliver: Deliver) -> None:
        """Each event as it is due (a paced stream has nothing to group)."""
        deliver_each(iter(self), deliver)
