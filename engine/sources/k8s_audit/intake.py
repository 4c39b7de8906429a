"""The bounded hand-over between the webhook's request threads and the engine thread.

Owns: ``Intake`` — a FIFO of batches bounded in items (not batches): ``offer`` never waits (a full intake says
no, so the request is refused with 503 and the sender retries), ``take`` waits for work, ``close`` lets the
consumer drain what is queued and then end.

Must not: decode, count drops or know HTTP (the webhook does).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    """A bounded FIFO of event batches, bounded in events; ``offer`` never waits, ``take`` waits for work."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.depth = 0
        self._batches: deque[list[T]] = deque()
        self._cond = threading.Condition()
        self.closed = False

    def offer(self, batch: list[T]) -> bool:
        with self._cond:
            if self.closed or (self.depth + len(batch) > self.capacity and self.depth > 0):
                return False  # an oversized batch still gets in when the intake is empty
            self._batches.append(batch)
            self.depth += len(batch)
            self._cond.notify()
            return True

    def take(self, timeout: float) -> list[T] | None:
        """The next batch, or None after ``timeout`` with nothing queued (or when closed and empty)."""
        with self._cond:
            if not self._batches and not self.closed:
                self._cond.wait(timeout)
            if not self._batches:
                return None
            batch = self._batches.popleft()
            self.depth -= len(batch)
            return batch

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
