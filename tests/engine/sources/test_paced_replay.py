"""Paced replay: loops, honours the rate, stops promptly, and hands out fresh caches."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.events.syscall import ProcessInfo, SyscallEvent
from engine.sources.paced_replay import PacedReplay


def write_events(path: Path, n: int) -> None:
    proc = ProcessInfo(pid=1, name="cat", exepath="/usr/bin/cat")
    path.write_bytes(b"".join(SyscallEvent(type="execve", ts=i, pid=1, tid=1, proc=proc).to_json() + b"\n"
                              for i in range(n)))


def test_loop_repeats_and_stop_ends(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    write_events(path, 3)
    src = PacedReplay(path, rate=0, loop=True)
    seen = []
    for ev in src:
        seen.append(ev.ts)
        ev.cache["x"] = 1
        if len(seen) == 7:
            src.stop()
    assert seen == [0, 1, 2, 0, 1, 2, 0]
    assert src.stats().events == 7


def test_rate_paces_delivery(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    write_events(path, 20)
    src = PacedReplay(path, rate=100.0, loop=False)
    got: list[int] = []
    t = threading.Thread(target=src.run_batches, args=(lambda batch: got.extend(e.ts for e in batch),))
    t.start()
    time.sleep(0.05)
    early = len(got)
    t.join(5)
    assert len(got) == 20
    assert early < 20  # 20 events at 100/s cannot all be out after 50 ms


def test_cache_is_cleared_between_loops(tmp_path: Path) -> None:
    path = tmp_path / "ev.jsonl"
    write_events(path, 1)
    src = PacedReplay(path, loop=True)
    it = iter(src)
    first = next(it)
    first.cache["k"] = "v"
    second = next(it)
    assert second is first and second.cache == {}
    src.stop()
