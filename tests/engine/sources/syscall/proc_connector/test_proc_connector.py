"""Proc connector backend: datagram parsing, and (as root, host network) exec/exit events of a real command."""

from __future__ import annotations

import os
import struct
import subprocess
import threading
import time

import pytest

from engine.sources.syscall.proc_connector.backend import (
    CN_IDX_PROC,
    CN_VAL_PROC,
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    PROC_EVENT_FORK,
    ProcConnectorBackend,
    parse_proc_event,
)


def datagram(what: int, payload: bytes, *, idx: int = CN_IDX_PROC) -> bytes:
    body = struct.pack("=IIQ", what, 0, 123) + payload
    cn = struct.pack("=IIIIHH", idx, CN_VAL_PROC, 0, 0, len(body), 0) + body
    return struct.pack("=IHHII", 16 + len(cn), 3, 0, 0, 0) + cn


def test_parse_fork_exec_exit() -> None:
    assert parse_proc_event(datagram(PROC_EVENT_FORK, struct.pack("=4i", 1, 1, 50, 50))) == (
        PROC_EVENT_FORK, 123, (1, 1, 50, 50))
    assert parse_proc_event(datagram(PROC_EVENT_EXEC, struct.pack("=2i", 50, 50))) == (
        PROC_EVENT_EXEC, 123, (50, 50))
    assert parse_proc_event(datagram(PROC_EVENT_EXIT, struct.pack("=2i2I", 50, 50, 256, 17))) == (
        PROC_EVENT_EXIT, 123, (50, 50, 256, 17))


def test_parse_rejects_other_connectors_and_short_data() -> None:
    assert parse_proc_event(datagram(PROC_EVENT_EXEC, struct.pack("=2i", 1, 1), idx=7)) is None
    assert parse_proc_event(b"\0" * 10) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CAP_NET_ADMIN) in the host network namespace")
def test_live_exec_and_exit_of_a_command() -> None:
    backend = ProcConnectorBackend()
    backend.open()
    seen: list[tuple[str, int, str, list[str]]] = []
    pids: list[int] = []

    def act() -> None:
        time.sleep(0.2)
        child = subprocess.Popen(["sleep", "0.3"])
        pids.append(child.pid)
        child.wait()

    worker = threading.Thread(target=act)
    try:
        worker.start()
        for event in backend.events(timeout=1.5):
            assert event.proc is not None
            seen.append((event.type, event.pid, event.proc.name, list(event.proc.args)))
            if pids and event.type == "procexit" and event.pid == pids[0]:
                break
    finally:
        worker.join()
        backend.close()
    mine = [(kind, name, args) for kind, pid, name, args in seen if pid == pids[0]]
    assert ("execve", "sleep", ["0.3"]) in mine and mine[-1][0] == "procexit"
    assert backend.stats().dropped == 0
