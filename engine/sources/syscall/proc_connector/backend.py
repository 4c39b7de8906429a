"""The ``proc`` syscall backend: the kernel proc connector (NETLINK_CONNECTOR, PROC_EVENTS): fork, exec, exit.

Owns: subscribing to process events (``PROC_CN_MCAST_LISTEN``, unsubscribing on close), an 8 MiB receive buffer,
parsing ``struct proc_event``, and turning exec into an ``execve`` event (process info read from ``/proc`` at exec
time), exit into ``procexit``, fork into a process-table update. ``ENOBUFS`` on receive is counted as a drop.
It sees no file or network activity: rules on ``open``/``connect`` never fire with this backend.

Must not: change any kernel state other than its own subscription, or evaluate rules.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from engine.events.syscall import SyscallEvent
from engine.sources.base import SourceStats
from engine.sources.syscall.stream import EventStream
from engine.state.proctable import ProcessTable, exe_flags

if TYPE_CHECKING:
    from engine.events.syscall import ContainerInfo
    from engine.state.containers import CgroupMatch
    from engine.state.pods import PodWatcher

NETLINK_CONNECTOR = 11
CN_IDX_PROC, CN_VAL_PROC = 1, 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
PROC_EVENT_FORK, PROC_EVENT_EXEC, PROC_EVENT_EXIT = 0x1, 0x2, 0x80000000
SO_RCVBUFFORCE = 33
RCVBUF = 8 << 20
NLMSG_DONE = 3

_NLHDR = struct.Struct("=IHHII")
_CNMSG = struct.Struct("=IIIIHH")  # cb_id.idx, cb_id.val, seq, ack, len, flags
_EVHDR = struct.Struct("=IIQ")  # what, cpu, timestamp_ns (since boot)


def _boot_epoch_ns() -> int:
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _subscription(op: int) -> bytes:
    body = struct.pack("=I", op)
    cn = _CNMSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, len(body), 0) + body
    return _NLHDR.pack(_NLHDR.size + len(cn), NLMSG_DONE, 0, 0, 0) + cn


def parse_proc_event(data: bytes) -> tuple[int, int, tuple[int, ...]] | None:
    """``(what, ts_since_boot_ns, fields)`` from one connector datagram, or None when not a proc event."""
    if len(data) < _NLHDR.size + _CNMSG.size + _EVHDR.size:
        return None
    idx, val, *_ = _CNMSG.unpack_from(data, _NLHDR.size)
    if (idx, val) != (CN_IDX_PROC, CN_VAL_PROC):
        return None
    offset = _NLHDR.size + _CNMSG.size
    what, _cpu, ts = _EVHDR.unpack_from(data, offset)
    offset += _EVHDR.size
    if what == PROC_EVENT_FORK:
        fields = struct.unpack_from("=4i", data, offset)  # parent pid, parent tgid, child pid, child tgid
    elif what == PROC_EVENT_EXEC:
        fields = struct.unpack_from("=2i", data, offset)  # pid, tgid
    elif what == PROC_EVENT_EXIT:
        fields = struct.unpack_from("=2i2I", data, offset)  # pid, tgid, exit code, exit signal
    else:
        return what, ts, ()
    return what, ts, fields


class ProcConnectorBackend(EventStream):
    """A ``Source`` of ``execve``/``procexit`` events from the proc connector."""

    name = "syscall"
    backend = "proc"
    EVENT_TYPES = frozenset({"execve", "procexit"})

    def __init__(self, *, table: ProcessTable | None = None, rcvbuf: int = RCVBUF,
                 containers: Callable[[CgroupMatch | str], ContainerInfo | None] | None = None,
                 watcher: PodWatcher | None = None) -> None:
        self.containers = containers
        self.watcher = watcher  # optional PodWatcher, started and stopped with the backend
        self.table = table if table is not None else ProcessTable()
        self.rcvbuf = rcvbuf
        self._sock: socket.socket | None = None
        self._stats = SourceStats()
        self._stopping = False
        self._boot = _boot_epoch_ns()
        self._num = 0

    def open(self) -> None:
        if self.watcher is not None:
            self.watcher.start()
        self.subscribe()
        self.table.scan()

    def subscribe(self) -> None:
        """Open the connector socket and listen to process events (raises ``OSError`` when refused)."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, self.rcvbuf)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            sock.bind((0, CN_IDX_PROC))
            sock.send(_subscription(PROC_CN_MCAST_LISTEN))
        except OSError:
            sock.close()
            raise
        self._sock = sock

    def release(self) -> None:
        if self._sock is not None:
            try:
                self._sock.send(_subscription(PROC_CN_MCAST_IGNORE))
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return False  # nothing is filtered at the source

    def describe(self) -> str:
        return f"{self.name} proc connector backend"

    def stats(self) -> SourceStats:
        snap = self._stats.snapshot()
        snap.process_table = len(self.table)
        return snap

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]:
        sock = self._sock
        if sock is None:
            raise RuntimeError("proc connector backend not started")
        idle = 0.0
        while not self._stopping:
            ready, _, _ = select.select([sock], [], [], 0.2)
            if not ready:
                idle += 0.2
                if timeout is not None and idle >= timeout:
                    return
                continue
            idle = 0.0
            try:
                data = sock.recv(1 << 16)
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._stats.drops["socket_overflow"] += 1
                    continue
                raise
            self._stats.payloads += 1
            self._stats.bytes += len(data)
            parsed = parse_proc_event(data)
            if parsed is None:
                self._stats.bad_payloads += 1
                continue
            event = self._event(*parsed)
            if event is not None:
                self._stats.events += 1
                yield event

    def _event(self, what: int, ts: int, fields: tuple[int, ...]) -> SyscallEvent | None:
        if what == PROC_EVENT_FORK:
            _ppid, ptgid, child, ctgid = fields
            if child == ctgid:  # a new process, not a thread
                self.table.on_fork(ptgid, ctgid)
            return None
        self._num += 1
        if what == PROC_EVENT_EXEC:
            _pid, tgid = fields
            proc = self.table.on_exec(tgid)
            if proc is None:
                return None  # exited before we could read it: nothing reliable to report
            args = {"exe": proc.exe, "args": list(proc.args), "tid": tgid, "pid": tgid, "ptid": proc.ppid,
                    "cwd": proc.cwd, "comm": proc.name, "env": list(proc.env), "tty": proc.tty,
                    "loginuid": proc.loginuid, "uid": proc.uid, "gid": proc.gid,
                    "cap_effective": proc.cap_effective, "cap_permitted": proc.cap_permitted,
                    "trusted_exepath": proc.exepath, "flags": exe_flags(proc)}
            container = (self.containers(proc.container_id)
                         if self.containers is not None and proc.container_id != "host" else None)
            return SyscallEvent(type="execve", ts=self._boot + ts, tid=tgid, pid=tgid, res=0, args=args, proc=proc,
                                num=self._num, container=container)
        if what == PROC_EVENT_EXIT:
            pid, tgid, code, sig = fields
            if pid != tgid:
                return None
            proc = self.table.on_exit(tgid)
            if proc is None:
                return None
            return SyscallEvent(type="procexit", ts=self._boot + ts, tid=tgid, pid=tgid, res=None,
                                args={"status": code, "ret": code >> 8, "sig": sig, "core": code >> 7 & 1},
                                proc=proc, num=self._num)
        return None
