"""The local end of another process's socket: copy the descriptor with ``pidfd_getfd(2)`` and ask ``getsockname``.

Audit logs where a ``connect`` went and which peer an ``accept`` returned, never the socket's own end, which Falco
shows as ``fd.cip``/``fd.cport`` of a connect (``fd.name`` ``10.0.0.5:53122->10.0.0.1:443``). While the process
still holds the descriptor, a copy of it in our process answers ``getsockname`` exactly; closing the copy leaves
the process's socket untouched (``close`` on a duplicate is not ``shutdown``).

Needs Linux 5.6+ and ptrace rights over the process (``CAP_SYS_PTRACE``; the kernel checks
``PTRACE_MODE_ATTACH_REALCREDS``). A process or descriptor that is gone, or any refusal, gives None.

Owns: ``local_address``. Must not: keep descriptors of other processes beyond one call.
"""

from __future__ import annotations

import ctypes
import os
import socket

_SYS_PIDFD_GETFD = 438  # the same number on every architecture (syscall numbers unified since Linux 5.1)
_libc = ctypes.CDLL(None, use_errno=True)


def local_address(pid: int, fd: int) -> tuple[str, int] | None:
    """``(ip, port)`` of the local end of socket ``fd`` of process ``pid`` (IPv4 or IPv6), or None."""
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        copy = _libc.syscall(_SYS_PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    if copy < 0:
        return None
    try:
        sock = socket.socket(fileno=copy)  # owns ``copy`` from here: closing it closes only our duplicate
    except OSError:
        os.close(copy)
        return None
    try:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        address = sock.getsockname()
    except OSError:
        return None
    finally:
        sock.close()
    return str(address[0]), int(address[1])
