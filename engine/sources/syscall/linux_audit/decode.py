"""Turn one audited syscall (a ``Group`` of audit records) into the normalized ``SyscallEvent``.

Owns: the syscall → Falco event-type mapping, argument decoding the way Falco presents it (paths resolved against
the cwd or the directory fd, raw ``O_*`` flags and ``S_*`` modes, sockaddr into the fd's socket tuple with
``fd.name`` as ``ip:port->ip:port``), and keeping the process table current on execve/fork/exit.

Must not: talk to netlink, change audit state or evaluate rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent
from engine.fields.evttypes import SYSCALLS_FOR_EVENT
from engine.sources.syscall.linux_audit.records import Group, Record, execve_args, number, signed64, untrusted
from engine.sources.syscall.linux_audit.syscalls import BY_NUMBER
from engine.state.proctable import ProcessTable, exe_flags, normalize_exepath
from engine.state.sockets import describe_fd, local_address

AT_FDCWD = -100
EINPROGRESS = 115
_CREDENTIALS = ((b"uid", "uid"), (b"gid", "gid"), (b"euid", "euid"))
O_DIRECTORY = 0o200000
# kernel syscall name -> Falco event name where they differ (pread64 -> pread, exit_group -> procexit...).
EVENT_FOR_SYSCALL: dict[str, str] = {}
for _event, _syscalls in SYSCALLS_FOR_EVENT.items():
    for _name in _syscalls:
        if _name not in EVENT_FOR_SYSCALL or _name == _event:
            EVENT_FOR_SYSCALL[_name] = _event
EVENT_FOR_SYSCALL["exit_group"] = "procexit"  # the process is gone: Falco's procexit, not a syscall event


def _a(group: Group, index: int) -> int:
    assert group.syscall is not None
    return number(group.syscall.fields.get(b"a%d" % index), base=16, default=0) or 0


def _sint(value: int) -> int:
    value = signed64(value)
    return value - (1 << 32) if 1 << 31 <= value < 1 << 32 else value


def _join(base: str | None, name: str) -> str:
    if not name or name.startswith("/") or not base:
        return os.path.normpath(name) if name.startswith("/") else name
    return os.path.normpath(os.path.join(base, name))


class Decoder:
    """Stateful decoder: resolves processes through ``table`` and keeps it current."""

    def __init__(self, table: ProcessTable, *, readlink: Callable[[str], str] = os.readlink,
                 containers: Callable[[str], ContainerInfo | None] | None = None,
                 sockname: Callable[[int, int], tuple[str, int] | None] = local_address) -> None:
        self.table = table
        self.containers = containers
        self._readlink = readlink
        self._sockname = sockname  # the local end of a process's socket, which audit does not log
        self.undecodable = 0

    def _dir_of_fd(self, pid: int, fd: int, cwd: str | None) -> str | None:
        if fd == AT_FDCWD:
            return cwd
        try:
            return self._readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            return None

    def _path(self, group: Group, index: int = 0, *, dirfd: int = AT_FDCWD,
              kinds: tuple[bytes, ...] = (b"NORMAL", b"CREATE", b"DELETE", b"UNKNOWN")) -> str:
        """The ``index``-th PATH name of one of ``kinds``, resolved against the cwd or ``dirfd``.

        Audit logs a PARENT record for each directory looked up and one record per name the syscall passed:
        ``NORMAL`` (existing), ``CREATE``, ``DELETE``, or ``UNKNOWN`` (a string not looked up: a symlink target).
        """
        raw = self._raw_path(group, index, kinds=kinds)
        if raw is None:
            return ""
        return _join(self._dir_of_fd(self._pid(group), dirfd, group.cwd), raw)

    @staticmethod
    def _raw_path(group: Group, index: int = 0, *,
                  kinds: tuple[bytes, ...] = (b"NORMAL", b"CREATE", b"DELETE", b"UNKNOWN")) -> str | None:
        """The ``index``-th PATH name of one of ``kinds`` as the syscall passed it (``fd.nameraw``)."""
        named = [p for p in group.paths if p.fields.get(b"nametype") in kinds]
        rec: Record | None = named[index] if index < len(named) else None
        return untrusted(rec.fields.get(b"name")) if rec is not None else None

    @staticmethod
    def _pid(group: Group) -> int:
        assert group.syscall is not None
        return number(group.syscall.fields.get(b"pid"), default=0) or 0

    def decode(self, group: Group) -> SyscallEvent | None:
        sc = group.syscall
        if sc is None:
            return None
        nr = number(sc.fields.get(b"syscall"), default=-1)
        name = BY_NUMBER.get(nr if nr is not None else -1)
        if name is None:
            self.undecodable += 1
            return None
        etype = EVENT_FOR_SYSCALL.get(name, name)
        pid = self._pid(group)
        res = _sint(number(sc.fields.get(b"exit"), default=0) or 0)
        if etype in ("execve", "execveat") and res == 0:
            proc = self.table.on_exec(pid)
        elif etype == "procexit":
            proc = self.table.get(pid)
        else:
            proc = self.table.get(pid)
        if proc is None:  # already gone: what the SYSCALL record says is all we know
            proc = ProcessInfo(pid=pid, tid=pid, ppid=number(sc.fields.get(b"ppid"), default=0) or 0,
                               name=untrusted(sc.fields.get(b"comm")) or "",
                               exepath=untrusted(sc.fields.get(b"exe")) or "")
            self.table.put(proc)
            self.table.link(proc)
        self._overlay(proc, sc, group)
        event = SyscallEvent(type=etype, dir="<", ts=group.ts_ns, tid=pid, pid=pid, res=res, proc=proc,
                             num=group.serial)
        if proc.container_id != "host" and self.containers is not None:
            event.container = self.containers(proc.container_id)
        handler = _HANDLERS.get(etype)
        if handler is not None:
            handler(self, group, event)
        if etype in ("clone", "clone3", "fork", "vfork") and res > 0:
            self.table.on_fork(pid, res)
        if etype == "procexit":
            self.table.on_exit(pid)
        return event

    def _overlay(self, proc: ProcessInfo, sc: Record, group: Group) -> None:
        """Credentials and names from the SYSCALL record are the truth at the syscall's time."""
        fields = sc.fields
        uid = proc.uid
        for raw_key, key in _CREDENTIALS:
            value = number(fields.get(raw_key))
            if value is not None:
                setattr(proc, key, value)
        if proc.uid != uid and proc.container_id not in ("", "host"):  # a container user's name follows its uid
            proc.user_name = self.table.users.name(proc.pid, proc.uid, proc.container_id, proc=self.table.proc)
        auid = number(sc.fields.get(b"auid"))
        if auid is not None:
            proc.loginuid = -1 if auid == 0xFFFFFFFF else auid
        comm = untrusted(sc.fields.get(b"comm"))
        if comm:
            proc.name = comm
        exe = untrusted(sc.fields.get(b"exe"))
        if exe:
            proc.exepath, memfd = normalize_exepath(exe)
            proc.exe_from_memfd = proc.exe_from_memfd or memfd
        if group.cwd:
            proc.cwd = group.cwd if group.cwd.endswith("/") else group.cwd + "/"

    # -- per-event argument decoders ------------------------------------------------------------------------
    def _open(self, group: Group, event: SyscallEvent) -> None:
        kind = event.type
        if kind in ("openat", "openat2"):
            dirfd, flags, mode = _sint(_a(group, 0)), _a(group, 2), _a(group, 3)
            path = self._path(group, 0, dirfd=dirfd)
            event.args.update(dirfd=dirfd)
        else:
            flags, mode = (_a(group, 1), _a(group, 2)) if kind == "open" else (0o1101, _a(group, 1))
            path = self._path(group, 0)
        if kind == "openat2":  # a struct open_how, shown by its own OPENAT2 record (Linux 5.16+)
            flags, mode, resolve = group.open_how or (0, 0, 0)
            event.args.update(resolve=resolve)
        fd = event.res if event.res is not None and event.res >= 0 else -1
        event.args.update(fd=fd, name=path, flags=flags, mode=mode)
        if kind == "creat":
            del event.args["flags"]
        is_dir = bool(flags & O_DIRECTORY) or any(p.fields.get(b"mode", b"").startswith(b"04") for p in group.paths
                                                   if p.fields.get(b"nametype") == b"NORMAL")
        event.fd = FdInfo(num=fd, type="directory" if is_dir else "file", name=path,
                          nameraw=self._raw_path(group, 0) or path, directory=path if is_dir else os.path.dirname(path), filename=os.path.basename(path),
                          open_flags=flags)

    def _execve(self, group: Group, event: SyscallEvent) -> None:
        proc = event.proc
        assert proc is not None
        if group.execve is not None and event.res == 0:
            argv = execve_args(group.execve)
            if argv:
                proc.exe, proc.args = argv[0], argv[1:]
                proc.cmdline = " ".join([proc.name, *argv[1:]])
        event.args.update(exe=proc.exe, args=list(proc.args), tid=proc.tid, pid=proc.pid, ptid=proc.ppid,
                          cwd=proc.cwd, comm=proc.name, env=list(proc.env), tty=proc.tty,
                          loginuid=proc.loginuid, uid=proc.uid, gid=proc.gid, cap_effective=proc.cap_effective,
                          cap_permitted=proc.cap_permitted, trusted_exepath=proc.exepath)
        event.args["flags"] = exe_flags(proc)  # the exit event's flags: how the new executable is stored
        if event.type == "execveat":
            event.args["dirfd"] = _sint(_a(group, 0))
            event.args["pathname"] = self._path(group, 0, dirfd=_sint(_a(group, 0)))

    def _socket(self, group: Group, event: SyscallEvent) -> None:
        fd = _a(group, 0)
        addr = group.sockaddr
        info = FdInfo(num=fd, type="ipv4")
        res = event.res if event.res is not None else -1
        if addr is not None and addr.family in ("ipv4", "ipv6"):
            info.type = addr.family
            info.l4proto = "tcp"
            if event.type == "connect":
                # Our own end is not in the records: read it from the socket while the process holds it (a
                # non-blocking connect returns EINPROGRESS with the local end already bound).
                local = self._sockname(event.pid, fd) if res == 0 or res == -EINPROGRESS else None
                sip, sport = local if local is not None else ("0.0.0.0", 0)
                info.dip, info.dport, info.sip, info.sport, info.is_server = addr.ip, addr.port, sip, sport, False
                info.name = f"{sip}:{sport}->{addr.ip}:{addr.port}"
            elif event.type == "bind":  # our own (server) address: the destination end in the model
                info.dip, info.dport, info.is_server = addr.ip, addr.port, True
                info.name = f"{addr.ip}:{addr.port}"
            else:  # accept/accept4 report the peer (the client, the source end); our end is the new socket's
                local = self._sockname(event.pid, res) if res >= 0 else None
                dip, dport = local if local is not None else ("0.0.0.0", 0)
                info.sip, info.sport, info.dip, info.dport, info.is_server = addr.ip, addr.port, dip, dport, True
                info.name = f"{addr.ip}:{addr.port}->{dip}:{dport}"
            event.args["tuple"] = info.name
        elif addr is not None and addr.family == "unix":
            info.type, info.name = "unix", addr.path or ""
        if event.type in ("accept", "accept4") and res >= 0:
            info.num = fd = res  # as in Falco, an accept's fd is the new connection's
        event.args.update(fd=fd)
        event.fd = info

    def _two_paths(self, group: Group, event: SyscallEvent) -> None:
        kind = event.type
        if kind in ("symlink", "symlinkat"):
            dirfd = AT_FDCWD if kind == "symlink" else _sint(_a(group, 1))
            link = self._path(group, dirfd=dirfd, kinds=(b"CREATE",))
            target = next((untrusted(p.fields.get(b"name")) or "" for p in group.paths
                           if p.fields.get(b"nametype") == b"UNKNOWN"), "")
            event.args.update(target=target, linkpath=link)
            if kind == "symlinkat":
                event.args["linkdirfd"] = dirfd
            return
        olddir, newdir = (AT_FDCWD, AT_FDCWD) if kind in ("rename", "link") else (_sint(_a(group, 0)),
                                                                                   _sint(_a(group, 2)))
        old_kinds = (b"DELETE",) if kind.startswith("rename") else (b"NORMAL",)
        event.args.update(oldpath=self._path(group, dirfd=olddir, kinds=old_kinds),
                          newpath=self._path(group, dirfd=newdir, kinds=(b"CREATE",)))

    def _one_path(self, group: Group, event: SyscallEvent) -> None:
        kind = event.type
        at = kind.endswith("at")
        dirfd = _sint(_a(group, 0)) if at else AT_FDCWD
        path = self._path(group, 0, dirfd=dirfd)
        key = {"unlinkat": "name", "chmod": "filename", "fchmodat": "filename", "fchownat": "pathname",
               "faccessat": "pathname", "access": "name"}.get(kind, "path")
        event.args[key] = path
        if at:
            event.args["dirfd"] = dirfd
        if kind in ("chmod", "mkdir"):
            event.args["mode"] = _a(group, 1)
        elif kind in ("fchmodat", "mkdirat"):
            event.args["mode"] = _a(group, 2)
        elif kind == "unlinkat":
            event.args["flags"] = _a(group, 2)

    def _numbers(self, group: Group, event: SyscallEvent) -> None:
        names = _NUMERIC[event.type]
        for index, arg in enumerate(names):
            if arg:
                event.args[arg] = _sint(_a(group, index))
        if event.type in DUP_EVENTS:
            dup_fd(event)


DUP_EVENTS = frozenset({"dup", "dup2", "dup3"})


def dup_fd(event: SyscallEvent) -> None:
    """The descriptor a successful dup* made (the old one's description under the new number), read from the
    process while it still holds it: the records carry only numbers."""
    res = event.res if event.res is not None else -1
    fd = res if res >= 0 else event.args.get("oldfd", -1)
    if isinstance(fd, int) and fd >= 0 and event.fd is None:
        event.fd = describe_fd(event.pid, fd)


_NUMERIC: dict[str, tuple[str, ...]] = {
    "ptrace": ("request", "pid", "addr", "data"), "kill": ("pid", "sig"), "tgkill": ("pid", "tid", "sig"),
    "setuid": ("uid",), "setgid": ("gid",), "setresuid": ("ruid", "euid", "suid"),
    "setresgid": ("rgid", "egid", "sgid"), "setreuid": ("ruid", "euid"), "setregid": ("rgid", "egid"),
    "unshare": ("flags",), "setns": ("fd", "nstype"), "memfd_create": ("", "flags"), "bpf": ("cmd",),
    "mprotect": ("addr", "length", "prot"), "mmap": ("addr", "length", "prot", "flags", "fd"),
    "dup": ("oldfd",), "dup2": ("oldfd", "newfd"), "dup3": ("oldfd", "newfd", "flags"), "listen": ("fd", "backlog"),
    "procexit": ("status",), "prctl": ("option",), "init_module": ("", "length"), "finit_module": ("fd", "", "flags"),
    "socket": ("domain", "type", "proto"),
}
_HANDLERS: dict[str, Callable[[Decoder, Group, SyscallEvent], Any]] = {
    **{k: Decoder._open for k in ("open", "openat", "openat2", "creat")},
    **{k: Decoder._execve for k in ("execve", "execveat")},
    **{k: Decoder._socket for k in ("connect", "bind", "accept", "accept4")},
    **{k: Decoder._two_paths for k in ("rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat")},
    **{k: Decoder._one_path for k in ("unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "chmod", "fchmodat",
                                      "chdir", "chroot", "truncate", "access", "faccessat", "fchownat")},
    **{k: Decoder._numbers for k in _NUMERIC},
}
