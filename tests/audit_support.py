"""The kernel audit state around live audit tests, and a stand-in audit daemon.

Owns: ``audit_snapshot()`` (enabled, pid, backlog limit, rules, backlog wait time: what a test compares before
and after) and ``other_audit_daemon()``, a process that owns the audit pid and drains its records as auditd
would, while a block runs; the pid found before is put back afterwards.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OTHER_DAEMON = textwrap.dedent("""
    import os, sys
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket(rcvbuf=1 << 22)
    sock.set_status(pid=os.getpid())
    print("owner", flush=True)
    while True:  # drain like auditd would
        sock.recv_record()
""")


def audit_snapshot() -> tuple[int, int, int, list[object], int]:
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket()
    try:
        status = sock.get_status()
        return (status.enabled, status.pid, status.backlog_limit, [r for r, _ in sock.list_rules()],
                status.backlog_wait_time)
    finally:
        sock.close()


def _forget_dead_owner(dead: int, original: int) -> None:
    """Put back the audit pid the test found, when it still names the killed stand-in daemon."""
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket()
    try:
        if sock.get_status().pid == dead:
            sock.set_status(pid=original)
    finally:
        sock.close()


@contextlib.contextmanager
def other_audit_daemon(*, enable: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in auditd that owns the audit pid while the block runs; the pid found before is put back.
    ``enable``: it also turns auditing on, as auditd does at start (``-e 1``); the state found is put back."""
    before = audit_snapshot()
    daemon = subprocess.Popen([sys.executable, "-c", OTHER_DAEMON], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().strip() == b"owner"
        if enable and not before[0]:
            _set_enabled(1)
        yield daemon
    finally:
        if enable and not before[0]:
            _set_enabled(before[0])
        daemon.kill()
        daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()
        _forget_dead_owner(daemon.pid, before[1])


def _set_enabled(enabled: int) -> None:
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket()
    try:
        sock.set_status(enabled=enabled)
    finally:
        sock.close()
