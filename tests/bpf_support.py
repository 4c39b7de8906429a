"""The probe's programs as the kernel lists them, and the ebpf backend run for the length of a test's block.

Owns: reading `bpftool prog show` for programs named as the ebpf backend's, waiting for the kernel to free closed
ones (it does so a while after the last descriptor closes, so one reading right after a stop can still show them),
and running a backend with a consumer thread while a block runs (``capturing``).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.sources.syscall.ebpf.backend import PROGRAMS


def our_programs() -> list[str]:
    """Names of the loaded programs that are the probe's, sorted (one entry per loaded copy)."""
    shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(p.get("name", "") for p in json.loads(shown or "[]") if p.get("name") in PROGRAMS)


def settled(expected: list[str], *, seconds: float = 5.0) -> list[str]:
    """Our programs once they equal ``expected``, or as they are after ``seconds`` of waiting."""
    deadline = time.monotonic() + seconds
    now = our_programs()
    while now != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        now = our_programs()
    return now


@dataclass
class Capture:
    """What a ``capturing`` block saw: our programs while the backend was open, the backend's stats at the end,
    and anything the consumer thread raised."""

    during: list[str] = field(default_factory=list)
    stats: Any = None
    failures: list[BaseException] = field(default_factory=list)


@contextlib.contextmanager
def capturing(backend: Any, on_batch: Callable[[list[Any]], None], *, settle: float = 0.3,
              drain: float = 1.0) -> Iterator[Capture]:
    """The ebpf backend open with a thread handing each batch to ``on_batch`` while the block runs: ``settle``
    seconds before the block (the probe attached), ``drain`` after it (the ring read to the end); then stopped,
    joined and closed, also when the block raises."""
    capture = Capture()

    def consume() -> None:
        try:
            for batch in backend.batches():
                on_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - the tests assert there is none
            capture.failures.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    backend.open()
    capture.during = our_programs()
    thread.start()
    time.sleep(settle)
    try:
        yield capture
        time.sleep(drain)
    finally:
        backend.stop()
        thread.join(5)
        capture.stats = backend.stats()
        backend.close()
