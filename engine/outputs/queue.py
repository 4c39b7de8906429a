"""The output queue: alerts from the engine thread to the sinks, bounded, never blocking the engine.

Owns: ``OutputQueue`` (one bounded queue and one worker thread per sink, so a slow or down sink only fills its
own queue), drop accounting (per source for ``falcopy_drops_total{reason="output_queue_full"}`` and per sink),
flushing on shutdown within a deadline, and ``RateLimitedLog`` (one log line per interval for repeated problems,
shared with the sources).

Must not: format alerts (``Alert`` does), know how a sink delivers (``engine.outputs.sinks``), block ``emit`` on a
full queue, or import prometheus_client (``engine.metrics`` reads ``stats()``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from engine.outputs.alert import Alert

log = logging.getLogger(__name__)

_STOP = object()


class Sink(Protocol):
    """Where alerts go. ``write`` raises on a delivery failure (after its own bounded retries)."""

    name: str

    def write(self, alert: Alert) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class RateLimitedLog:
    """Log a repeated problem at most once per ``interval`` seconds, saying how many were suppressed."""

    def __init__(self, logger: logging.Logger, *, interval: float = 10.0) -> None:
        self._log = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log ``message`` unless ``key`` was logged within the interval; return whether it was logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] += 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += f" ({suppressed} similar suppressed)"
        self._log.warning(message, *args)
        return True


class _Worker:
    def __init__(self, sink: Sink, size: int, owner: OutputQueue) -> None:
        self.sink = sink
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self.owner = owner
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self.inflight: Any = None  # the alert being written right now
        self.abandoned = False  # set when close() gave up on this worker: its in-flight alert is counted lost
        self.thread = threading.Thread(target=self._loop, name=f"sink-{sink.name}", daemon=True)

    def _loop(self) -> None:
        q = self.queue
        while True:
            item = q.get()
            if item is _STOP:
                break
            self.inflight = item
            try:
                self.sink.write(item)
                self.delivered += 1
            except Exception as exc:  # noqa: BLE001 - a sink failure must never kill the worker
                self.failed += 1
                if self.abandoned:
                    break
                self.owner._count_drop(item, sink=self.sink.name, reason="sink_error")
                self.owner.limiter.warning(
                    f"fail-{self.sink.name}", "output %s failed to deliver an alert: %s", self.sink.name, exc
                )
            finally:
                self.inflight = None
            if q.empty():
                self._flush()
        self._flush()

    def _flush(self) -> None:
        try:
            self.sink.flush()
        except Exception as exc:  # noqa: BLE001 - any sink error is logged, never fatal
            self.owner.limiter.warning(
                f"flush-{self.sink.name}", "output %s flush failed: %s", self.sink.name, exc
            )


class OutputQueue:
    """Fan alerts out to sinks through per-sink bounded queues; ``emit`` never blocks.

    ``queue_size`` bounds each sink's backlog in alerts. ``emit`` is what ``Engine`` calls for every alert.
    """

    def __init__(
        self, sinks: Sequence[Sink], *, queue_size: int = 10_000, log_interval: float = 10.0
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.limiter = RateLimitedLog(log, interval=log_interval)
        self._lock = threading.Lock()
        self.drops: Counter[tuple[str, str]] = Counter()  # (source, reason) -> alerts lost
        self.sink_drops: Counter[tuple[str, str]] = Counter()  # (sink, reason) -> alerts lost
        self._workers = [_Worker(s, queue_size, self) for s in sinks]
        self._closed = False
        for w in self._workers:
            w.thread.start()

    def _count_drop(self, alert: Any, *, sink: str, reason: str) -> None:
        with self._lock:
            self.drops[(getattr(alert, "source", "unknown"), reason)] += 1
            self.sink_drops[(sink, reason)] += 1

    def emit(self, alert: Alert) -> None:
        """Queue ``alert`` for every sink; a sink whose queue is full loses it (counted, logged rate-limited)."""
        if self._closed:
            for w in self._workers:
                self._count_drop(alert, sink=w.sink.name, reason="shutdown")
            return
        for w in self._workers:
            try:
                w.queue.put_nowait(alert)
            except queue.Full:
                w.dropped += 1
                self._count_drop(alert, sink=w.sink.name, reason="output_queue_full")
                self.limiter.warning(
                    f"full-{w.sink.name}", "output queue of %s is full: dropping alerts", w.sink.name
                )

    __call__ = emit

    def reopen(self) -> None:
        """Ask sinks that write files to reopen them (SIGHUP after log rotation)."""
        for w in self._workers:
            reopen = getattr(w.sink, "reopen", None)
            if reopen is not None:
                reopen()

    def close(self, *, deadline: float = 5.0) -> bool:
        """Stop accepting, let each worker drain and flush within ``deadline`` seconds; return True if all did.

        Alerts still queued when the deadline passes are counted as drops (reason ``shutdown``).
        """
        self._closed = True
        end = time.monotonic() + deadline
        for w in self._workers:
            while (
                True
            ):  # the sentinel must get in even if the queue is full: wait for room until the deadline
                try:
                    w.queue.put(_STOP, timeout=max(0.01, end - time.monotonic()))
                    break
                except queue.Full:
                    if time.monotonic() >= end:
                        break
        clean = True
        for w in self._workers:
            w.thread.join(max(0.0, end - time.monotonic()))
            if w.thread.is_alive():
                clean = False
                w.abandoned = True
                lost = 0
                if w.inflight is not None:
                    lost += 1
                    self._count_drop(w.inflight, sink=w.sink.name, reason="shutdown")
                while True:
                    try:
                        item = w.queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not _STOP:
                        lost += 1
                        self._count_drop(item, sink=w.sink.name, reason="shutdown")
                log.warning(
                    "output %s did not finish within %.1fs: %d alerts lost", w.sink.name, deadline, lost
                )
        for w in self._workers:
            if not w.thread.is_alive():
                try:
                    w.sink.close()
                except Exception as exc:  # noqa: BLE001 - closing must reach every sink
                    log.warning("output %s close failed: %s", w.sink.name, exc)
        return clean

    def stats(self) -> dict[str, object]:
        with self._lock:
            drops = dict(self.drops)
            sink_drops = dict(self.sink_drops)
        return {
            "drops": drops,
            "sink_drops": sink_drops,
            "sinks": {
                w.sink.name: {
                    "depth": w.queue.qsize(),
                    "delivered": w.delivered,
                    "failed": w.failed,
                    "capacity": w.queue.maxsize,
                }
                for w in self._workers
            },
        }
