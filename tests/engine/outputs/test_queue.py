"""Output queue: fan-out to sinks, a slow sink does not stall emit or other sinks, drops counted, drain on close."""

from __future__ import annotations

import threading
import time
from typing import Any

from engine.outputs.alert import Alert
from engine.outputs.queue import OutputQueue
from engine.priority import Priority


def alert(i: int = 0, source: str = "k8s_audit") -> Alert:
    return Alert(
        rule=f"R{i}",
        priority=Priority.NOTICE,
        source=source,
        ts=1_767_225_600_000_000_000 + i,
        output=f"out {i}",
    )


class ListSink:
    def __init__(self, name: str = "list") -> None:
        self.name = name
        self.items: list[Any] = []
        self.flushes = 0
        self.closed = False

    def write(self, a: Any) -> None:
        self.items.append(a)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True


class BlockedSink(ListSink):
    def __init__(self) -> None:
        super().__init__("blocked")
        self.gate = threading.Event()

    def write(self, a: Any) -> None:
        self.gate.wait()
        self.items.append(a)


class FailingSink(ListSink):
    def write(self, a: Any) -> None:
        raise ConnectionError("down")


def test_every_sink_gets_every_alert_in_order_and_close_flushes() -> None:
    a, b = ListSink("a"), ListSink("b")
    q = OutputQueue([a, b], queue_size=100)
    for i in range(50):
        q.emit(alert(i))
    assert q.close(deadline=2.0)
    assert [x.rule for x in a.items] == [f"R{i}" for i in range(50)]
    assert [x.rule for x in b.items] == [f"R{i}" for i in range(50)]
    assert a.flushes >= 1 and a.closed and b.closed
    assert q.stats()["drops"] == {}


def test_full_queue_drops_without_blocking_and_counts_per_source_and_sink() -> None:
    slow, fast = BlockedSink(), ListSink("fast")
    q = OutputQueue([slow, fast], queue_size=5, log_interval=60)
    start = time.monotonic()
    for i in range(100):
        q.emit(alert(i, source="syscall" if i % 2 else "k8s_audit"))
        time.sleep(0.002)  # the healthy sink keeps up at this pace
    assert time.monotonic() - start < 1.5  # emit never waited for the blocked sink
    time.sleep(0.2)
    assert len(fast.items) == 100  # the healthy sink got everything
    stats = q.stats()
    lost = stats["sink_drops"][("blocked", "output_queue_full")]
    assert 100 - 6 <= lost <= 100 - 5  # 5 queued (+1 maybe taken by the worker)
    by_source = stats["drops"]
    assert by_source[("k8s_audit", "output_queue_full")] + by_source[("syscall", "output_queue_full")] == lost
    slow.gate.set()
    assert q.close(deadline=2.0)
    assert len(slow.items) == 100 - lost


def test_failing_sink_counts_sink_errors_and_keeps_running() -> None:
    bad, good = FailingSink("bad"), ListSink("good")
    q = OutputQueue([bad, good], queue_size=10)
    for i in range(7):
        q.emit(alert(i))
    q.close(deadline=2.0)
    assert len(good.items) == 7
    assert q.stats()["sink_drops"][("bad", "sink_error")] == 7
    assert q.stats()["sinks"]["bad"]["failed"] == 7


def test_close_deadline_counts_unsent_alerts_as_shutdown_drops() -> None:
    slow = BlockedSink()
    q = OutputQueue([slow], queue_size=10)
    for i in range(4):
        q.emit(alert(i))
    start = time.monotonic()
    assert q.close(deadline=0.3) is False
    assert time.monotonic() - start < 1.0
    assert q.stats()["sink_drops"][("blocked", "shutdown")] >= 3
    q.emit(alert(99))  # after close: counted, not queued
    assert q.stats()["sink_drops"][("blocked", "shutdown")] >= 4
    slow.gate.set()
