"""The probe's programs as the kernel lists them, for tests that check nothing is left loaded.

Owns: reading `bpftool prog show` for programs named as the ebpf backend's, and waiting for the kernel to free
closed ones (it does so a while after the last descriptor closes, so one reading right after a stop can still
show them).
"""

from __future__ import annotations

import json
import subprocess
import time

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
