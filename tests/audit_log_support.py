"""Helpers for the audit-log file tests: append to a log and follow it from a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.sources.k8s_audit.file import AuditFileSource


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def follow_appended(tmp_path: Path, follow: Callable[[AuditFileSource, list[Any]], None],
                    lines: list[bytes]) -> tuple[AuditFileSource, list[Any], bool]:
    """Start ``follow(source, got)`` in a thread on an empty log, append ``lines`` one by one, wait until ``got``
    holds as many items, stop the source; return it, ``got`` and whether its thread ended."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"")
    src = AuditFileSource(log, start_at="end", poll_interval=0.02)
    assert list(src.poll_once()) == []  # opened (at its end) before anything is appended
    got: list[Any] = []
    t = threading.Thread(target=follow, args=(src, got))
    t.start()
    for line in lines:
        append(log, line + b"\n")
        time.sleep(0.005)
    deadline = time.monotonic() + 3
    while len(got) < len(lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    src.stop()
    t.join(2)
    return src, got, not t.is_alive()
