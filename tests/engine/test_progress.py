"""``DeliveryWatch``: which source has been inside one delivery to the engine for too long."""

from __future__ import annotations

import pytest

from engine.progress import DeliveryWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_idle_sources_are_never_stalled_however_long_they_wait() -> None:
    clock = Clock()
    watch = DeliveryWatch(10, clock=clock)
    deliver = watch.wrap("source-a", lambda batch: len(batch))
    assert deliver([1, 2]) == 2
    for _ in range(5):
        clock.now += 60
        assert watch.stalled() == {}


def test_a_call_seen_running_for_the_limit_is_stalled_and_clears_when_it_returns() -> None:
    clock = Clock()
    watch = DeliveryWatch(10, clock=clock)
    inside: list[dict[str, float]] = []

    def slow(batch: object) -> None:  # the checks run while this call is "in progress"
        inside.append(watch.stalled())
        clock.now += 9
        inside.append(watch.stalled())
        clock.now += 2
        inside.append(watch.stalled())

    watch.wrap("source-a", slow)(None)
    assert inside == [{}, {}, {"source-a": 11.0}]
    assert watch.stalled() == {}  # returned: no longer stalled


def test_back_to_back_calls_are_not_one_long_call() -> None:
    clock = Clock()
    watch = DeliveryWatch(10, clock=clock)
    seen: list[dict[str, float]] = []
    deliver = watch.wrap("source-a", lambda _: seen.append(watch.stalled()))
    for _ in range(4):  # each check sees a different call in progress, 6 s apart
        deliver(None)
        clock.now += 6
    assert seen == [{}, {}, {}, {}]


def test_a_call_that_raises_is_finished() -> None:
    clock = Clock()
    watch = DeliveryWatch(1, clock=clock)

    def broken(_: object) -> None:
        raise RuntimeError("rule failed")

    with pytest.raises(RuntimeError):
        watch.wrap("source-a", broken)(None)
    clock.now += 5
    assert watch.stalled() == {} and watch.stalled() == {}


def test_sources_are_judged_apart() -> None:
    clock = Clock()
    watch = DeliveryWatch(5, clock=clock)
    quick = watch.wrap("source-quick", lambda _: None)

    def stuck(_: object) -> None:
        watch.stalled()
        clock.now += 6
        quick(None)
        assert watch.stalled() == {"source-stuck": 6.0}

    watch.wrap("source-stuck", stuck)(None)
