"""The local end of another process's socket: copy the descriptor with ``pidfd_getfd(2)`` and ask ``getsockname``.

Audit logs where a ``connect`` went and which peer an ``accept`` returned, never the socket's own end, which Falco
shows as ``fd.cip``/``fd.cport`` of a connect (``fd.name`` ``10.0.0.5:53122->10.0.0.1:443``). While the process
still holds the descriptor, a copy of it in our process answers ``getsockname`` exactly; closing the copy leaves
the process's socket untouched (``close`` on a duplicate is not ``shutdown``).

Needs Linux 5.6+ and ptrace rights over the process (``CAP_SYS_PTRACE``; the kernel checks
``PTRACE_MODE_ATTACH_REALCREDS``). A process or descriptor that is gone, or any refusal, gives None.

``describe_fd`` does the same for an event that names a descriptor but carries nothing about it (``dup``,
``dup2``, ``dup3``): a socket is described from the copy (family, protocol, both ends — also for a socket of
another network namespace, which ``/proc/net`` of ours would not list), anything else from its
``/proc/<pid>/fd`` link.

Owns: ``local_address`` and ``describe_fd``. Must not: keep descriptors of other processes beyond one call.
"""

from __future__ import annotations

import ctypes
import os
import socket

from engine.events.syscall import FdInfo

_SYS_PIDFD_GETFD = 438  # the same number on every architecture (syscall numbers unified since Linux 5.1)
_libc = ctypes.CDLL(None, use_errno=True)


def _copy(pid: int, fd: int) -> socket.socket | None:
    """A duplicate of socket ``fd`` of process ``pid`` in this process (closing it closes only the copy)."""
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
        return socket.socket(fileno=copy)  # owns ``copy`` from here
    except OSError:
        os.close(copy)
        return None


def _ephemeral_ports() -> range:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as fh:
            low, high = (int(x) for x in fh.read().split())
        return range(low, high + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


_PIPE_LIKE = {"pipe": "pipe", "anon_inode:[eventfd]": "event", "anon_inode:[signalfd]": "signalfd",
              "anon_inode:[eventpoll]": "eventpoll", "anon_inode:inotify": "inotify",
              "anon_inode:[timerfd]": "timerfd", "anon_inode:bpf-map": "bpf", "anon_inode:bpf-prog": "bpf"}


def describe_fd(pid: int, fd: int) -> FdInfo | None:
    """What descriptor ``fd`` of live process ``pid`` is, as the event model shows it (None when unknown)."""
    try:
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        return None
    if not link.startswith("socket:"):
        kind = next((t for prefix, t in _PIPE_LIKE.items() if link.startswith(prefix)), None)
        if kind is not None:
            return FdInfo(num=fd, type=kind, name=link)
        if link.startswith("/memfd:"):
            return FdInfo(num=fd, type="memfd", name=link[1:].removesuffix(" (deleted)"))
        path = link.removesuffix(" (deleted)")
        is_dir = os.path.isdir(f"/proc/{pid}/fd/{fd}")
        return FdInfo(num=fd, type="directory" if is_dir else "file", name=path,
                      directory=path if is_dir else os.path.dirname(path), filename=os.path.basename(path))
    sock = _copy(pid, fd)
    if sock is None:
        return None
    try:
        return _describe_socket(sock, fd)
    except OSError:
        return None
    finally:
        sock.close()


def _describe_socket(sock: socket.socket, fd: int) -> FdInfo:
    if sock.family == socket.AF_UNIX:
        name = sock.getsockname() or ""
        return FdInfo(num=fd, type="unix", name=name if isinstance(name, str) else "")
    if sock.family == socket.AF_NETLINK:
        return FdInfo(num=fd, type="netlink")
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return FdInfo(num=fd, type="unknown")
    kind = "ipv4" if sock.family == socket.AF_INET else "ipv6"
    proto = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp", socket.SOCK_RAW: "raw"}.get(sock.type, None)
    local = sock.getsockname()
    try:
        peer = sock.getpeername()
    except OSError:  # not connected: a listening or unbound socket is named by its own address
        return FdInfo(num=fd, type=kind, l4proto=proto, dip=str(local[0]), dport=int(local[1]), is_server=True,
                      name=f"{local[0]}:{local[1]}", connected=False)
    # libsinsp's tuple is client -> server whichever end we are: the end on an ephemeral port is the client.
    client_is_us = int(local[1]) in _ephemeral_ports() and int(peer[1]) not in _ephemeral_ports()
    client, server = (local, peer) if client_is_us else (peer, local)
    return FdInfo(num=fd, type=kind, l4proto=proto, sip=str(client[0]), sport=int(client[1]), dip=str(server[0]),
                  dport=int(server[1]), is_server=not client_is_us, connected=True,
                  name=f"{client[0]}:{client[1]}->{server[0]}:{server[1]}")


def local_address(pid: int, fd: int) -> tuple[str, int] | None:
    """``(ip, port)`` of the local end of socket ``fd`` of process ``pid`` (IPv4 or IPv6), or None."""
    sock = _copy(pid, fd)
    if sock is None:
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
