"""Kernel records of the ebpf probe -> ``SyscallEvent``s, keeping the process table current.

Owns: the binary layout of the probe's records (header, syscall arguments, items; exec, fork and exit records —
see docs/record-format.md), argument decoding as Falco shows it (the path as the caller wrote it in the event's
argument and ``fd.nameraw``, resolved against the cwd or the directory fd in ``fd.name``; raw ``O_*`` flags and
modes; both ends of a socket from the kernel's socket; ``open_how`` of openat2), thread ids, and building the
process from the exec record (no ``/proc`` read per exec).

Must not: talk to the kernel, read ``/proc`` itself (the table's reader does, only for processes it has never
seen), or evaluate rules.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Mapping
from typing import Any

from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent
from engine.sources.syscall.ebpf.sockets import I_TUPLE, new_socket, socket_fd
from engine.sources.syscall.linux_audit.decode import _NUMERIC, DUP_EVENTS, EVENT_FOR_SYSCALL, dup_fd
from engine.sources.syscall.linux_audit.syscalls import BY_NUMBER
from engine.state import containers as cgroups
from engine.state.proctable import ProcessTable, exe_flags, fill_exe_facts, normalize_exepath

K_SYSCALL, K_EXEC, K_FORK, K_EXIT = 1, 2, 3, 4
# item kinds (probe.bpf.c's I_*; the socket ones, 2 and 3, are engine.sources.syscall.ebpf.sockets')
I_STR, I_FDPATH, I_OPENHOW, I_CWD, I_EXE, I_ARGV, I_ENV, I_CGROUP, I_FILENAME, I_EXE_TIMES = 1, *range(4, 13)
EXE_TIMES = struct.Struct("<2Q")
HDR = struct.Struct("<HHHHQIIq")
ARGS = struct.Struct("<6Q")
SYSCALL = struct.Struct("<HHHHQIIq6Q")  # HDR then ARGS: a syscall record's fixed part in one unpack
ITEM = struct.Struct("<BBH")
EXEC = struct.Struct("<6I6I2I3Q3Q16s")
FORK = struct.Struct("<4I")
EXIT = struct.Struct("<iI")
AT_FDCWD = -100
EXE_UPPER_LAYER, EXE_LOWER_LAYER = 1, 2
O_DIRECTORY = 0o200000


def _s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


_COMPONENTS: dict[bytes, str] = {}  # the same few cwds and directories come back on most records


def components(data: bytes) -> str:
    """A path from leaf-first components (each a length byte and the name)."""
    got = _COMPONENTS.get(data)
    if got is None:
        if len(_COMPONENTS) >= 4096:
            _COMPONENTS.clear()
        got = _COMPONENTS[data] = _components(data)
    return got


def _components(data: bytes) -> str:
    parts: list[str] = []
    at = 0
    while at < len(data):
        n = data[at]
        parts.append(data[at + 1:at + 1 + n].decode(errors="surrogateescape"))
        at += 1 + n
    parts = [p for p in parts if p != "/"]
    return "/" + "/".join(reversed(parts))


def _normal(path: str) -> str:
    """``os.path.normpath`` of an absolute path, without the call when there is nothing to normalize."""
    if path[0] != "/" or "/." in path or "//" in path or (path[-1] == "/" and len(path) > 1):
        return os.path.normpath(path)
    return path


def _under(base: str, name: str) -> str:
    """``os.path.join`` of a directory and a relative name."""
    return base + name if base[-1] == "/" else base + "/" + name


def _split(path: str) -> tuple[str, str]:
    """(``os.path.dirname``, ``os.path.basename``) of ``path`` in one pass."""
    i = path.rfind("/") + 1
    head = path[:i]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head, path[i:]


def _join(base: str | None, name: str) -> str:
    if name.startswith("/") or not base:
        return os.path.normpath(name) if name.startswith("/") else name
    return os.path.normpath(os.path.join(base, name))


_Opened = tuple[str, str | None, str | None, FdInfo, int, int, int]
_OPENED_MAX = 8192


class Decoder:
    """Stateful: ``decode(record)`` returns the event a record makes (or None: fork, unknown syscalls)."""

    def __init__(self, table: ProcessTable, *, boot_ns: int,
                 containers: Callable[[str], ContainerInfo | None] | None = None, live: bool = True) -> None:
        self.table = table
        self.live = live  # False when decoding a capture: the processes are not there to be asked
        self.boot_ns = boot_ns
        self.containers = containers
        self.num = 0
        self.undecodable = 0
        # What repeated opens come to (see ``_open``): their events share the ``FdInfo``, which nothing changes
        # once an event carries it.
        self._opened: dict[tuple[object, ...], _Opened] = {}

    def decode(self, rec: bytes | memoryview) -> SyscallEvent | None:
        if rec[0] == K_SYSCALL and rec[1] == 0:
            return self._syscall(rec)
        kind, _nr, cpu, _pad, ts, tgid, tid, _res = HDR.unpack_from(rec, 0)
        if kind == K_EXEC:
            self._exec(rec, tgid, tid)
            return None
        if kind == K_FORK:
            child_tgid, child_tid, _vpid, _vtid = FORK.unpack_from(rec, HDR.size)
            if child_tgid == child_tid:
                self.table.on_fork(tgid, child_tgid)
            return None
        if kind == K_EXIT:
            code, group_dead = EXIT.unpack_from(rec, HDR.size)
            return self._exit(cpu, ts, tgid, tid, code, bool(group_dead))
        self.undecodable += 1
        return None

    @staticmethod
    def items(rec: bytes | memoryview, at: int) -> list[tuple[int, int, bytes]]:
        out = []
        end = len(rec)
        while at + 4 <= end:
            kind, argi, length = ITEM.unpack_from(rec, at)
            out.append((kind, argi, bytes(rec[at + 4:at + 4 + length])))
            at += 4 + length
        return out

    def _proc(self, tgid: int, tid: int) -> ProcessInfo:
        proc = self.table.get(tgid)
        if proc is None:
            proc = self.table.put(ProcessInfo(pid=tgid, tid=tgid))
        return proc

    def _event(self, etype: str, cpu: int, ts: int, tgid: int, tid: int, res: int | None,
               proc: ProcessInfo) -> SyscallEvent:
        self.num += 1
        event = SyscallEvent(type=etype, ts=self.boot_ns + ts, tid=tid, pid=tgid, res=res, proc=proc,
                             num=self.num, cpu=cpu)
        if proc.container_id != cgroups.HOST and self.containers is not None:
            event.container = self.containers(proc.container_id)
        return event

    def _exec(self, rec: bytes | memoryview, tgid: int, tid: int) -> None:
        (ppid, vpid, vtid, sid, pgid, vpgid, uid, gid, euid, egid, loginuid, tty, _old, flags, cap_eff, cap_prm,
         cap_inh, start, ino, pidns_start, comm) = EXEC.unpack_from(rec, HDR.size)
        info = ProcessInfo(pid=tgid, tid=tgid, ppid=ppid, vpid=vpid, vtid=vtid, sid=sid, pgid=pgid, vpgid=vpgid,
                           uid=uid, gid=gid, euid=euid, egid=egid,
                           loginuid=-1 if loginuid == 0xFFFFFFFF else loginuid, tty=tty,
                           cap_effective=cap_eff, cap_permitted=cap_prm, cap_inheritable=cap_inh,
                           start_ts=self.boot_ns + start, exe_ino=ino,
                           pidns_init_start_ts=self.boot_ns + pidns_start if pidns_start else 0,
                           name=comm.split(b"\0", 1)[0].decode(errors="surrogateescape"),
                           exe_upper_layer=bool(flags & EXE_UPPER_LAYER), exe_lower_layer=bool(flags & EXE_LOWER_LAYER))
        for kind, _argi, data in self.items(rec, HDR.size + EXEC.size):
            if kind == I_EXE:
                info.exepath, info.exe_from_memfd = normalize_exepath(components(data))
            elif kind == I_ARGV:
                argv = [a.decode(errors="surrogateescape") for a in data.split(b"\0")]
                if argv and argv[-1] == "":
                    argv.pop()
                if argv:
                    info.exe, info.args = argv[0], argv[1:]
            elif kind == I_ENV:
                info.env = [e.decode(errors="surrogateescape") for e in data.split(b"\0") if e]
            elif kind == I_CWD:
                info.cwd = components(data).rstrip("/") + "/"
            elif kind == I_EXE_TIMES and len(data) == EXE_TIMES.size:
                info.exe_ino_ctime, info.exe_ino_mtime = EXE_TIMES.unpack(data)
            elif kind == I_CGROUP:
                found = cgroups.match_path(components(data))
                if found is not None:
                    info.container_id = found.id
        info.cmdline = " ".join([info.name, *info.args])
        if self.live:
            fill_exe_facts(info, proc=self.table.proc, users=self.table.users)
        self.table.put(info)
        self.table.link(info)

    def _exit(self, cpu: int, ts: int, tgid: int, tid: int, code: int, group_dead: bool) -> SyscallEvent:
        proc = self.table.get(tgid) if tgid in self.table else None
        event = self._event("procexit", cpu, ts, tgid, tid, None, proc or ProcessInfo(pid=tgid, tid=tid))
        event.args.update(status=code, ret=code >> 8, sig=code & 0x7F, core=code >> 7 & 1)
        if group_dead:
            self.table.on_exit(tgid)
        return event

    def _syscall(self, rec: bytes | memoryview) -> SyscallEvent | None:
        _kind, nr, cpu, _pad, ts, tgid, tid, res, a0, a1, a2, a3, a4, a5 = SYSCALL.unpack_from(rec, 0)
        call = _CALLS.get(nr)
        if call is None:
            self.undecodable += 1
            return None
        etype, handler = call
        if handler is _OPEN:
            return self._open(rec, etype, cpu, ts, tgid, tid, res, a0, a1, a2, a3)
        proc = self._proc(tgid, tid)
        event = self._event(etype, cpu, ts, tgid, tid, res, proc)
        args = (a0, a1, a2, a3, a4, a5)
        if handler is not None:
            handler(self, event, args, self.items(rec, SYSCALL.size))
        elif etype in _NUMERIC:
            for index, arg in enumerate(_NUMERIC[etype]):
                if arg:
                    event.args[arg] = _s32(args[index]) if arg.endswith("fd") or arg == "pid" else args[index]
            if etype in DUP_EVENTS:
                self._dup(event, self.items(rec, SYSCALL.size))
            elif etype == "socket" and res >= 0:
                domain, sock_type, proto = (int(args[i]) for i in range(3))
                event.fd = new_socket(res, domain, sock_type, proto)
        return event

    def _dup(self, event: SyscallEvent, items: list[tuple[int, int, bytes]]) -> None:
        """The new descriptor is the old one's file: its path, or a socket's ends, as the kernel had them at the
        call (a later read of ``/proc`` may find the descriptor closed or reused); other kinds (pipes, anonymous
        inodes) from the live process."""
        path = next((components(d) for k, _a, d in items if k == I_FDPATH), "")
        res = event.res if event.res is not None else -1
        if res >= 0 and path not in ("", "/"):
            directory, filename = _split(path)
            event.fd = FdInfo(num=res, name=path, directory=directory, filename=filename)
        elif res >= 0 and any(k == I_TUPLE for k, _a, _d in items):  # a socket: the kernel's ends of it
            event.fd = socket_fd(event.type, res, items, accepted=False)
        elif self.live:
            dup_fd(event)

    # -- argument decoders ----------------------------------------------------------------------------------
    @staticmethod
    def _paths(event: SyscallEvent, items: list[tuple[int, int, bytes]], args: tuple[int, ...],
               at: Mapping[int, int | None]) -> dict[int, tuple[str, str | None]]:
        """argument index -> (as given, resolved) for the path arguments ``at`` names (each with the index of
        its directory-fd argument, or None); resolved is None when relative to a directory fd of unknown path."""
        raw: dict[int, str] = {}
        dirs: dict[int, str] = {}
        cwd = event.proc.cwd if event.proc is not None else ""
        for kind, argi, data in items:
            if kind == I_STR:
                raw[argi] = data.decode(errors="surrogateescape")
            elif kind == I_FDPATH:
                dirs[argi] = components(data)
            elif kind == I_CWD:
                cwd = components(data).rstrip("/") + "/"
                if event.proc is not None:
                    event.proc.cwd = cwd
        out: dict[int, tuple[str, str | None]] = {}
        for index, dirfd_index in at.items():
            given = raw.get(index, "")
            if not given or given[0] == "/":
                out[index] = (given, os.path.normpath(given) if given else "")
            elif dirfd_index is not None and _s32(args[dirfd_index]) != AT_FDCWD:
                base = dirs.get(dirfd_index)
                out[index] = (given, _join(base, given) if base else None)
            else:
                out[index] = (given, _join(cwd, given) if cwd else None)
        return out

    @staticmethod
    def _set_path(event: SyscallEvent, name: str, pair: tuple[str, str | None]) -> None:
        """The argument as the caller wrote it; the resolved path beside it when it was relative."""
        given, resolved = pair
        event.args[name] = given
        if given and given[0] != "/" and resolved:
            if event.paths is None:
                event.paths = {}
            event.paths[name] = resolved

    def _open(self, rec: bytes | memoryview, kind: str, cpu: int, ts: int, tgid: int, tid: int, res: int,
              a0: int, a1: int, a2: int, a3: int) -> SyscallEvent:
        """open, openat, openat2, creat: the hottest records, read without the generic item list. What the
        path and the descriptor come to depends only on the record's items, the numbers below and the caller's
        cwd, so a repeated open (the same file by the same kind of call) reuses them from ``_opened``."""
        proc = self.table.get(tgid)
        if proc is None:
            proc = self.table.put(ProcessInfo(pid=tgid, tid=tgid))
        fd = res if res >= 0 else -1
        dirfd = _s32(a0)
        key = (kind, bytes(rec[SYSCALL.size:]), fd, a2 if kind == "openat" else a1, dirfd, proc.cwd)
        known = self._opened.get(key)
        if known is None:
            if len(self._opened) >= _OPENED_MAX:
                self._opened.clear()
            known = self._opened[key] = self._open_items(rec, kind, fd, dirfd, a1, a2, proc.cwd)
        given, path, cwd, fdinfo, flags, mode, resolve = known
        if cwd is not None:
            proc.cwd = cwd
        self.num += 1
        if kind == "openat":
            event_args: dict[str, Any] = {"dirfd": dirfd, "fd": fd, "flags": flags, "mode": a3, "name": given}
        elif kind == "open":
            event_args = {"fd": fd, "flags": flags, "mode": a2, "name": given}
        elif kind == "creat":
            event_args = {"fd": fd, "mode": a1, "name": given}
        else:
            event_args = {"dirfd": dirfd, "resolve": resolve, "fd": fd, "flags": flags, "mode": mode,
                          "name": given}
        event = SyscallEvent(kind, "<", self.boot_ns + ts, tid, tgid, res, event_args, proc, fdinfo, None,
                             self.num, cpu)
        if path and given[0] != "/":
            event.paths = {"name": path}
        if proc.container_id != cgroups.HOST and self.containers is not None:
            event.container = self.containers(proc.container_id)
        return event

    @staticmethod
    def _open_items(rec: bytes | memoryview, kind: str, fd: int, dirfd: int, a1: int, a2: int,
                    cwd: str) -> _Opened:
        """(path as given, resolved path or None, the cwd the record carries or None, the descriptor, flags, mode
        and resolve of openat2) of an open record."""
        at = kind == "openat" or kind == "openat2"
        index = 1 if at else 0  # of the path argument
        given, base, new_cwd, how = "", None, None, b""
        pos, end = SYSCALL.size, len(rec)
        while pos + 4 <= end:
            item, argi, length = rec[pos], rec[pos + 1], rec[pos + 2] | rec[pos + 3] << 8
            pos += 4
            data = rec[pos:pos + length]
            pos += length
            if item == I_STR:
                if argi == index:
                    given = str(data, "utf-8", "surrogateescape")
            elif item == I_CWD:
                new_cwd = cwd = components(bytes(data)).rstrip("/") + "/"
            elif item == I_FDPATH:
                if argi == 0:
                    base = components(bytes(data))
            elif item == I_OPENHOW:
                how = bytes(data)
        path: str | None
        if not given:
            path = ""
        elif given[0] == "/":
            path = _normal(given)
        elif at and dirfd != AT_FDCWD:
            path = _normal(_under(base, given)) if base else None
        else:
            path = _normal(_under(cwd, given)) if cwd else None
        mode = resolve = 0
        if kind == "openat":
            flags = a2
        elif kind == "open":
            flags = a1
        elif kind == "creat":
            flags = 0o1101
        else:
            flags, mode, resolve = struct.unpack_from("<3Q", how.ljust(24, b"\0"))
        name = path if path is not None else given
        if flags & O_DIRECTORY:
            fdinfo = FdInfo(num=fd, type="directory", name=name, nameraw=given, directory=name,
                            filename=_split(name)[1], open_flags=flags)
        else:
            directory, filename = _split(name)
            fdinfo = FdInfo(num=fd, type="file", name=name, nameraw=given, directory=directory,
                            filename=filename, open_flags=flags)
        return given, path, new_cwd, fdinfo, flags, mode, resolve

    def _exec_call(self, event: SyscallEvent, args: tuple[int, ...], items: list[tuple[int, int, bytes]]) -> None:
        proc = event.proc
        assert proc is not None
        event.args.update(exe=proc.exe, args=list(proc.args), tid=event.tid, pid=proc.pid, ptid=proc.ppid,
                          cwd=proc.cwd, comm=proc.name, env=list(proc.env), tty=proc.tty, loginuid=proc.loginuid,
                          uid=proc.uid, gid=proc.gid, cap_effective=proc.cap_effective,
                          cap_permitted=proc.cap_permitted, cap_inheritable=proc.cap_inheritable,
                          trusted_exepath=proc.exepath, pgid=proc.pgid, vpgid=proc.vpgid)
        event.args["flags"] = exe_flags(proc)  # the exit event's flags: how the new executable is stored
        if event.type == "execveat":
            event.args["dirfd"] = _s32(args[0])
            self._set_path(event, "pathname", self._paths(event, items, args, {1: 0})[1])

    def _socket(self, event: SyscallEvent, args: tuple[int, ...], items: list[tuple[int, int, bytes]]) -> None:
        accepted = event.type in ("accept", "accept4")
        fd = (event.res if event.res is not None and event.res >= 0 else -1) if accepted else _s32(args[0])
        event.fd = socket_fd(event.type, fd, items, accepted=accepted)
        if event.fd.dip is not None and event.fd.sip is not None and event.fd.type in ("ipv4", "ipv6"):
            event.args["tuple"] = event.fd.name
        event.args["fd"] = fd

    def _two_paths(self, event: SyscallEvent, args: tuple[int, ...], items: list[tuple[int, int, bytes]]) -> None:
        kind = event.type
        if kind in ("symlink", "symlinkat"):
            link = 1 if kind == "symlink" else 2
            paths = self._paths(event, items, args, {0: None, link: None if kind == "symlink" else 1})
            event.args["target"] = paths[0][0]  # a symlink's target is a string, never resolved
            if kind == "symlinkat":
                event.args["linkdirfd"] = _s32(args[1])
            self._set_path(event, "linkpath", paths[link])
            return
        old, new = (0, 1) if kind in ("rename", "link") else (1, 3)
        paths = self._paths(event, items, args, {old: None, new: None} if old == 0 else {1: 0, 3: 2})
        if old == 1:
            event.args.update({"olddirfd" if kind.startswith("rename") else "olddir": _s32(args[0]),
                               "newdirfd" if kind.startswith("rename") else "newdir": _s32(args[2])})
        self._set_path(event, "oldpath", paths[old])
        self._set_path(event, "newpath", paths[new])
        if kind in ("renameat2", "linkat"):
            event.args["flags"] = args[4]

    def _one_path(self, event: SyscallEvent, args: tuple[int, ...], items: list[tuple[int, int, bytes]]) -> None:
        kind = event.type
        at = kind.endswith("at") or kind == "faccessat2"
        index = 1 if at else 0
        pair = self._paths(event, items, args, {index: 0 if at else None})[index]
        key = {"unlinkat": "name", "chmod": "filename", "fchmodat": "filename", "fchownat": "pathname",
               "faccessat": "pathname", "faccessat2": "pathname", "access": "name"}.get(kind, "path")
        if at:
            event.args["dirfd"] = _s32(args[0])
        self._set_path(event, key, pair)
        if kind in ("chmod", "mkdir"):
            event.args["mode"] = args[1]
        elif kind in ("fchmodat", "mkdirat", "faccessat", "faccessat2"):
            event.args["mode"] = args[2]
        elif kind == "unlinkat":
            event.args["flags"] = args[2]
        elif kind == "access":
            event.args["mode"] = args[1]
        path = pair[1]
        if kind == "chdir" and event.res == 0 and event.proc is not None and path:
            event.proc.cwd = path.rstrip("/") + "/"

    def _fd_call(self, event: SyscallEvent, args: tuple[int, ...], items: list[tuple[int, int, bytes]]) -> None:
        fd = _s32(args[0])
        event.args["fd"] = fd
        path = next((components(d) for k, _a, d in items if k == I_FDPATH), None)
        if path is not None:
            event.fd = FdInfo(num=fd, name=path, directory=os.path.dirname(path), filename=os.path.basename(path))
            if event.type == "fchdir" and event.res == 0 and event.proc is not None:
                event.proc.cwd = path.rstrip("/") + "/"
        if event.type == "fchmod":
            event.args["mode"] = args[1]
        elif event.type == "setns":
            event.args["nstype"] = args[1]

    def _strings(self, event: SyscallEvent, args: tuple[int, ...], items: list[tuple[int, int, bytes]]) -> None:
        strings = {a: d.decode(errors="surrogateescape") for k, a, d in items if k == I_STR}
        if event.type == "memfd_create":
            event.args.update(fd=event.res, name=strings.get(0, ""), flags=args[1])
        elif event.type == "finit_module":
            event.args.update(fd=_s32(args[0]), uargs=strings.get(1, ""), flags=args[2])
        elif event.type == "init_module":
            event.args.update(length=args[1], uargs=strings.get(2, ""))


_Handler = Callable[[Decoder, SyscallEvent, tuple[int, ...], list[tuple[int, int, bytes]]], Any]


def _open_marker(decoder: Decoder, event: SyscallEvent, args: tuple[int, ...],
                 items: list[tuple[int, int, bytes]]) -> None:
    raise AssertionError("open records are decoded by Decoder._open")  # pragma: no cover


_OPEN: _Handler = _open_marker
_HANDLERS: dict[str, _Handler] = {
    **{k: _OPEN for k in ("open", "openat", "openat2", "creat")},
    **{k: Decoder._exec_call for k in ("execve", "execveat")},
    **{k: Decoder._socket for k in ("connect", "bind", "accept", "accept4", "listen", "sendto", "sendmsg",
                                    "recvfrom", "recvmsg")},
    **{k: Decoder._two_paths for k in ("rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat")},
    **{k: Decoder._one_path for k in ("unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "chmod", "fchmodat",
                                      "chdir", "chroot", "truncate", "access", "faccessat", "faccessat2",
                                      "fchownat", "chown", "lchown")},
    **{k: Decoder._fd_call for k in ("fchdir", "fchmod", "fchown", "setns")},
    **{k: Decoder._strings for k in ("memfd_create", "finit_module", "init_module")},
}

# syscall number -> (event type, argument decoder or None)
_CALLS: dict[int, tuple[str, _Handler | None]] = {
    nr: (etype, _HANDLERS.get(etype)) for nr, name in BY_NUMBER.items()
    for etype in (EVENT_FOR_SYSCALL.get(name, name),)
}
