"""The ``audit`` syscall backend: kernel audit records over NETLINK_AUDIT, turned into ``SyscallEvent``s.

Owns: the audit lifecycle — save the audit state (enabled, pid, backlog limit and wait time) to a state file
under ``/run``, become the audit pid (or, when another daemon owns it, read the read-only multicast group), raise
the backlog limit and, unless ``block_when_full``, set the backlog wait time to 0 (a full backlog then drops
records instead of stalling audited tasks: monitored workloads are never slowed, the loss is counted), add
exit,always rules for the syscalls the rules need (keyed ``falcopy``), read and decode records, count the
kernel's ``lost`` delta (``SourceStats.kernel_lost``) — and undo all of it on ``close()`` and, after a crash, on the next ``open``
(leftover rules with our key are removed and the saved state restored). Read-only (``read_only``: the config's
``audit.mode: multicast``), it changes nothing in the kernel: it joins the read-only group (CAP_AUDIT_READ is all
it needs) and reads the records of the host's own audit rules keyed ``falcopy`` (``host_rules`` writes them),
leaving out its own process by its pid in the host's PID namespace.

Must not: evaluate rules, or leave audit state changed once ``close()`` returned.
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.fields.evttypes import SYSCALLS_FOR_EVENT
from engine.sources.base import SourceStats
from engine.sources.syscall.linux_audit.decode import Decoder
from engine.sources.syscall.linux_audit.netlink import (
    AUDIT_NLGRP_READLOG,
    AuditNetlinkError,
    AuditRule,
    AuditSocket,
)
from engine.sources.syscall.linux_audit.records import AUDIT_PROCTITLE, Assembler, RecordError, parse_record
from engine.sources.syscall.linux_audit.syscalls import AUDIT_ARCH_X86_64, X86_64
from engine.sources.syscall.stream import EventStream
from engine.state.proctable import ProcessTable

if TYPE_CHECKING:
    from engine.events.syscall import ContainerInfo, SyscallEvent
    from engine.state.containers import CgroupMatch
    from engine.state.pods import PodWatcher

AUDIT_KEY = "falcopy"
STATE_FILE = Path("/run/falco-py/audit-state.json")
_QUOTED_KEY = b'"' + AUDIT_KEY.encode() + b'"'
# Together the kernel's backlog (records queued for us) and our socket's receive buffer absorb bursts: an exec
# storm of ~1,000 execs/s (about 35 records per exec) fills 8,192 records in a quarter of a second whenever the
# reader is held up. 65,536 records cost the kernel at most ~64 MB, and only while we fall behind.
BACKLOG_LIMIT = 65536
RCVBUF = 32 << 20
# Always captured: process lifecycle keeps the table current even when no rule asks for it.
BASE_SYSCALLS = ("execve", "execveat", "exit_group")


def syscalls_for(event_types: Iterable[str]) -> frozenset[int]:
    """x86_64 syscall numbers behind Falco event types (unknown names and pseudo events add nothing)."""
    names: set[str] = set(BASE_SYSCALLS)
    for event_type in event_types:
        names.update(SYSCALLS_FOR_EVENT.get(event_type, ()))
    return frozenset(X86_64[n] for n in names if n in X86_64)


def host_rules(event_types: Iterable[str]) -> str:
    """An audit rules file (``auditctl`` syntax, for the host's ``/etc/audit/rules.d/``) asking for the records the
    read-only mode reads: one exit,always rule for arch x86_64 with the syscalls behind ``event_types`` (those the
    loaded rules need, plus the process lifecycle) and our key. The key is how the engine finds its records among
    the host's others; our rule in the other modes is the same, with the engine's own pid left out."""
    numbers = syscalls_for(event_types)
    names = sorted(name for name, number in X86_64.items() if number in numbers)
    return ("# falco-py audit backend, read-only mode (sources.syscall.audit.mode: multicast): the records the\n"
            "# engine reads from the host's audit daemon. Written by `falcoctl-py engine audit-rules`.\n"
            f"-a always,exit -F arch=b64 -S {','.join(names)} -k {AUDIT_KEY}\n")


def recover(*, state_file: Path = STATE_FILE, sock: AuditSocket | None = None) -> bool:
    """Undo what a previous run left (rules with our key, saved status); True when anything was restored."""
    own = sock is None
    sock = sock or AuditSocket()
    try:
        removed = sock.delete_rules_with_key(AUDIT_KEY)
        saved = _load_state(state_file)
        if saved is not None:
            for msg_type in saved.get("excluded") or ():
                if isinstance(msg_type, int):
                    sock.include_record_type(msg_type)
            current = sock.get_status()
            pid = saved["pid"] if current.pid in (0, saved.get("ours", -1)) or not _alive(current.pid) else None
            sock.set_status(enabled=saved["enabled"], backlog_limit=saved["backlog_limit"])
            if isinstance(saved.get("backlog_wait_time"), int):
                sock.set_status(backlog_wait_time=saved["backlog_wait_time"])
            if pid is not None and pid != current.pid:
                try:
                    sock.set_status(pid=pid)
                except AuditNetlinkError:
                    pass  # the dead owner is dropped by the kernel at its next send
            state_file.unlink(missing_ok=True)
        return bool(removed) or saved is not None
    finally:
        if own:
            sock.close()


def in_host_network(sock: AuditSocket, host_proc: str = "/proc") -> bool:
    """Whether ``sock`` lives in the network namespace of the host's first process: the sockets of a namespace
    are listed, by inode, in ``/proc/<pid>/net/netlink`` of any process in it (readable without privilege).
    True when the list cannot be read (nothing to tell)."""
    try:
        with open(os.path.join(host_proc, "1", "net", "netlink"), "rb") as fh:
            listed = fh.read().split(b"\n")[1:]
    except OSError:
        return True
    inode = str(os.fstat(sock.fileno()).st_ino).encode()
    return any(line.split()[-1:] == [inode] for line in listed)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _load_state(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) for k in ("enabled", "pid",
                                                                                       "backlog_limit")):
        return None
    return data


class AuditBackend(EventStream):
    """A ``Source`` of syscall events from the kernel audit subsystem."""

    name = "syscall"
    backend = "audit"

    def __init__(self, event_types: Iterable[str], *, table: ProcessTable | None = None,
                 state_file: Path = STATE_FILE, backlog_limit: int = BACKLOG_LIMIT,
                 containers: Callable[[CgroupMatch | str], ContainerInfo | None] | None = None,
                 watcher: PodWatcher | None = None,
                 block_when_full: bool = False, rcvbuf: int = RCVBUF, read_only: bool = False,
                 host_proc: str = "/proc") -> None:
        self.block_when_full = block_when_full
        self.read_only = read_only
        self.host_proc = host_proc  # where the host's processes are seen (our own host pid, read-only mode)
        self._own_pid = os.getpid()
        self.rcvbuf = rcvbuf
        self.syscalls = syscalls_for(event_types)
        self.table = table if table is not None else ProcessTable()
        self.state_file = state_file
        self.backlog_limit = backlog_limit
        # "pid" (we are the audit daemon), "multicast" (another daemon is; we read the read-only group and manage
        # our rule) or "read-only" (the group only, nothing changed in the kernel)
        self.mode = "unstarted"
        self._stats = SourceStats()
        self._ctl: AuditSocket | None = None
        self._events_sock: AuditSocket | None = None
        self._decoder = Decoder(self.table, containers=containers)
        self.watcher = watcher  # optional PodWatcher, started and stopped with the backend
        self._assembler = Assembler()
        self._lost_at_start = 0
        self._stopping = False
        self.decode_errors = 0
        self.skipped_records = 0  # received but not needed (PROCTITLE when the kernel still makes them)
        self._socket_overflows = 0


    # -- lifecycle ------------------------------------------------------------------------------------------
    def open(self) -> None:
        if self.watcher is not None:
            self.watcher.start()
        if self.read_only:
            self._open_read_only()
            return
        recover(state_file=self.state_file)
        ctl = AuditSocket()
        self._ctl = ctl
        try:
            before = ctl.get_status()
            self._lost_at_start = before.lost
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            state = {"enabled": before.enabled, "pid": before.pid, "backlog_limit": before.backlog_limit,
                     "backlog_wait_time": before.backlog_wait_time, "ours": os.getpid(), "excluded": []}
            self.state_file.write_bytes(orjson.dumps(state))
            self.table.scan()
            if before.pid and _alive(before.pid) and before.pid != os.getpid():
                self._events_sock = self._read_group(f"another audit daemon (pid {before.pid}) owns the audit pid: "
                                                     "reading beside it takes the read-only group")
                self.mode = "multicast"
            else:
                events = AuditSocket(rcvbuf=self.rcvbuf)
                self._events_sock = events
                events.set_status(pid=os.getpid())
                self.mode = "pid"
                # PROCTITLE repeats argv (the EXECVE record and the process table have it) and comes with every
                # audited syscall: a fifth of the records. As the only reader we can ask the kernel not to make
                # them; with another daemon reading, its records stay as they are. The intent is saved first, so
                # a crash right after the request still gets the exclusion removed on the next start.
                self.state_file.write_bytes(orjson.dumps({**state, "excluded": [AUDIT_PROCTITLE]}))
                if not ctl.exclude_record_type(AUDIT_PROCTITLE):  # already excluded by someone: theirs to keep
                    self.state_file.write_bytes(orjson.dumps(state))
            ctl.set_status(enabled=1 if before.enabled != 2 else 2,
                           backlog_limit=max(before.backlog_limit, self.backlog_limit))
            if not self.block_when_full:
                ctl.set_status(backlog_wait_time=0)  # a full backlog drops records (counted) instead of stalling
            ctl.add_rule(self._rule(self.syscalls))
        except BaseException:
            self.close()
            raise

    def _open_read_only(self) -> None:
        """Join the read-only group; the kernel's audit status, rules and pid stay as the host set them."""
        try:
            # Records carry pids of the host's PID namespace: ours, seen through the host's /proc, is how our
            # own syscalls are left out (a pod without hostPID has another pid inside).
            self._own_pid = int(os.readlink(os.path.join(self.host_proc, "self")))
        except (OSError, ValueError):
            self._own_pid = os.getpid()
        try:
            self._events_sock = self._read_group("audit.mode multicast reads the read-only group")
            self.table.scan()
        except BaseException:
            self.close()
            raise
        self.mode = "read-only"

    def _read_group(self, why: str) -> AuditSocket:
        """A socket in the read-only group (``AUDIT_NLGRP_READLOG``), or ``SyscallSourceUnavailable`` saying
        ``why`` we read it and what is missing: CAP_AUDIT_READ, or the host network namespace (the kernel sends
        the group's records only there; joining it elsewhere works, and nothing ever arrives)."""
        from engine.sources.syscall import SyscallSourceUnavailable
        try:
            sock = AuditSocket(groups=1 << (AUDIT_NLGRP_READLOG - 1), rcvbuf=self.rcvbuf)
        except PermissionError:
            raise SyscallSourceUnavailable("audit", f"{why}, which needs capability CAP_AUDIT_READ") from None
        if not in_host_network(sock, self.host_proc):
            sock.close()
            raise SyscallSourceUnavailable("audit", f"{why}, whose records reach only the host network namespace "
                                                    "(run with hostNetwork)")
        return sock

    @staticmethod
    def _rule(syscalls: frozenset[int]) -> AuditRule:
        # Our own process is left out, as Falco leaves itself out. The kernel never audits the audit pid, but in
        # multicast mode (auditd owns the pid) the engine's /proc reads on every exec would come back as events,
        # adding load exactly when the node is busiest.
        return AuditRule(syscalls, AUDIT_ARCH_X86_64, AUDIT_KEY, exclude_pid=os.getpid())

    def update_event_types(self, event_types: Iterable[str]) -> bool:
        """Audit what a reloaded ruleset needs: add the new rule, then remove the old one (no gap in capture).

        Returns False when the syscall set did not change (nothing is sent to the kernel).
        """
        wanted = syscalls_for(event_types)
        if wanted == self.syscalls or self._ctl is None:  # read-only: the host's rules decide (``host_rules``)
            return False
        old = self._rule(self.syscalls)
        self._ctl.add_rule(self._rule(wanted))
        self._ctl.delete_rule(old)
        self.syscalls = wanted
        return True

    def release(self) -> None:
        """Remove our rules and restore the saved status; safe to call twice."""
        if self._ctl is not None:
            try:
                recover(state_file=self.state_file, sock=self._ctl)
            finally:
                self._ctl.close()
                self._ctl = None
        if self._events_sock is not None:
            self._events_sock.close()
            self._events_sock = None

    # -- events ---------------------------------------------------------------------------------------------
    def describe(self) -> str:
        if self.read_only:
            return f"{self.name} audit backend (read-only: the host's rules keyed {AUDIT_KEY})"
        return f"{self.name} audit backend ({self.mode}, {len(self.syscalls)} syscalls)"

    def stats(self) -> SourceStats:
        if self._ctl is not None:
            self.kernel_lost()  # refreshes ``kernel_lost`` from the kernel's counter
        snap = self._stats.snapshot()
        if self._assembler.evicted:
            snap.drops["incomplete_record"] = self._assembler.evicted
        if self._socket_overflows:
            snap.drops["socket_overflow"] = self._socket_overflows
        snap.detail.update(pending_records=self._assembler.pending(), decode_errors=self.decode_errors,
                           skipped_records=self.skipped_records)
        snap.process_table = len(self.table)
        return snap

    def kernel_lost(self) -> int:
        """Records the kernel dropped since ``open`` (kept in ``SourceStats.kernel_lost``)."""
        if self._ctl is None:
            return 0
        lost = self._ctl.get_status().lost - self._lost_at_start
        self._stats.kernel_lost = lost
        return lost

    def events(self, *, timeout: float | None = None) -> Iterator[SyscallEvent]:
        """Decoded events until ``stop()``; with ``timeout``, also ends after that long without a record."""
        sock = self._events_sock
        if sock is None:
            raise RuntimeError("audit backend not started")
        sock.sock.setblocking(False)
        own_pid = str(self._own_pid).encode()
        idle = 0.0
        while not self._stopping:
            try:
                got = sock.recv_record()
            except BlockingIOError:  # drained: wait for more (select only when the socket is empty)
                ready, _, _ = select.select([sock.sock], [], [], 0.2)
                if ready:
                    idle = 0.0
                else:
                    idle += 0.2
                    if timeout is not None and idle >= timeout:
                        return
                continue
            except OSError as exc:
                if exc.errno == 105:  # ENOBUFS: the socket overflowed, records lost
                    self._socket_overflows += 1
                    continue
                raise
            self._stats.payloads += 1
            if got is None:
                continue
            self._stats.bytes += len(got[1])
            if got[0] == AUDIT_PROCTITLE:
                self.skipped_records += 1  # repeats argv, which the EXECVE record and the process table give
                continue
            try:
                group = self._assembler.add(parse_record(*got))
            except RecordError:
                self.decode_errors += 1
                continue
            if group is None or group.syscall is None:
                continue
            fields = group.syscall.fields
            if fields.get(b"key") != _QUOTED_KEY:
                continue  # another daemon's rule (multicast mode sees everything)
            if self.read_only and fields.get(b"pid") == own_pid:
                continue  # our own syscalls: the host's rule cannot leave us out as ours does
            event = self._decoder.decode(group)
            if event is not None:
                self._stats.events += 1
                yield event
