"""The process table: what Falco's thread table knows about each live process, read from ``/proc``.

Owns: building ``ProcessInfo`` from ``/proc/<pid>`` (comm, exe path, argv, env, cwd, uids, login uid, tty,
session/group, capabilities, start time, memfd and overlay-upper-layer executables, container id from the cgroup,
a container process's user and login-user names from the container's own ``/etc/passwd``, as Falco's user
manager reads them),
the initial scan, updates on fork/exec/exit, the parent chain (``parent`` links, resolved lazily), and the bound
(LRU eviction past ``max_size``; entries are pruned on exit). The ``/proc`` it reads is configurable
(``ProcessTable(proc=...)``): a pod without ``hostPID`` reads the host's processes from a read-only mount of the
host's ``/proc`` (``<host_root>/proc``), where pids are the host's, as the kernel event sources report them.

Must not: talk to the kernel's event interfaces or the API server, or evaluate rules.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields

from engine.events.syscall import ProcessInfo
from engine.state import containers

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _boot_ns() -> int:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("btime "):
                    return int(line.split()[1]) * 1_000_000_000
    except OSError:
        pass
    return 0


_BOOT_NS = _boot_ns()


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _status(text: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _unescape(path: bytes) -> str:
    """A mountinfo path: the kernel writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    if b"\\" in path:
        path = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), path)
    return path.decode("utf-8", "surrogateescape")


def _overlay_layer(pid: int, exepath: str, *, proc: str = "/proc") -> str | None:
    """``"upper"`` when the executable lives on an overlay filesystem's upper (writable) layer — written or
    changed after the container started, Falco's ``proc.is_exe_upper_layer`` —, ``"lower"`` when it comes from a
    lower (image) layer of one, None when it is not on an overlay or the layer cannot be told.

    The overlay mount holding the executable (longest mount point, in the process's own mount namespace) names
    its ``upperdir``; the executable is on the upper layer when that directory holds the same file. The inode is
    compared because overlayfs reports one device for every layer when they share a filesystem, so the device
    alone cannot tell the layers apart. The upper directory is a path of the namespace that mounted the overlay
    (the container runtime's, normally the host's), looked up under the host root (the parent of ``proc``): when
    the engine cannot see it, the answer is None.
    """
    mounts = _read(f"{proc}/{pid}/mountinfo")
    if not mounts or b" overlay " not in mounts:
        return None
    best: tuple[str, list[bytes]] | None = None  # the mount holding the executable: the longest mount point
    for line in mounts.splitlines():
        left, sep, right = line.partition(b" - ")
        parts = right.split()
        fields = left.split()
        if not sep or len(parts) < 3 or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        inside = point == "/" or exepath == point or exepath.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):  # later mounts stack over earlier ones
            best = (point, parts)
    if best is None or best[1][0] != b"overlay":
        return None
    point, options = best[0], best[1][2]
    upper = next((_unescape(o[len(b"upperdir="):]) for o in options.split(b",") if o.startswith(b"upperdir=")),
                 None)
    if not upper:
        return "lower"  # a read-only overlay: every file comes from a lower layer
    relative = exepath[len(point.rstrip("/")):] if point != "/" else exepath
    host = os.path.dirname(proc.rstrip("/"))
    if host not in ("", "/"):
        upper = host + upper
    if not os.path.isdir(upper):
        return None  # the runtime's layer directories are not visible here
    try:
        running = os.stat(f"{proc}/{pid}/exe")
    except OSError:
        return None
    try:
        on_upper = os.stat(upper.rstrip("/") + relative)
    except OSError:
        return "lower"
    return "upper" if stat.S_ISREG(on_upper.st_mode) and on_upper.st_ino == running.st_ino else "lower"


EXE_WRITABLE, EXE_UPPER_LAYER, EXE_FROM_MEMFD, EXE_LOWER_LAYER = 1, 2, 4, 8  # execve's ``flags`` (libs' PPM_EXE_*)
_CAP_DAC_OVERRIDE = 1


def exe_writable(pid: int, *, uid: int | None, gid: int | None, cap_effective: int, proc: str = "/proc",
                 st: os.stat_result | None = None) -> bool:
    """Whether the process's user may write its executable (Falco's ``proc.is_exe_writable``): the file's mode
    for the owner, group or others, or any file on a writable filesystem with ``CAP_DAC_OVERRIDE``. ``st``: the
    executable's stat when the caller has it."""
    try:
        st = st or os.stat(f"{proc}/{pid}/exe")
        readonly = bool(os.statvfs(f"{proc}/{pid}/exe").f_flag & os.ST_RDONLY)
    except OSError:
        return False
    if readonly:
        return False
    if cap_effective >> _CAP_DAC_OVERRIDE & 1:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)


def exe_flags(info: ProcessInfo) -> int:
    """The ``flags`` argument of an execve exit event for the process it started."""
    return ((EXE_WRITABLE if info.exe_writable else 0) | (EXE_UPPER_LAYER if info.exe_upper_layer else 0) |
            (EXE_FROM_MEMFD if info.exe_from_memfd else 0) | (EXE_LOWER_LAYER if info.exe_lower_layer else 0))


def normalize_exepath(path: str) -> tuple[str, bool]:
    """The exe path as Falco shows it and whether it is a memfd (``/memfd:x (deleted)`` -> ``memfd:x``)."""
    path = path.removesuffix(" (deleted)")
    if path.startswith("/memfd:"):
        return path[1:], True
    return path, False


def read_process(pid: int, *, proc: str = "/proc", users: ContainerUsers | None = None) -> ProcessInfo | None:
    """A fresh ``ProcessInfo`` for a live process (None when it is gone or unreadable); ``users``: where the user
    names of container processes are looked up and remembered (default: looked up, not remembered)."""
    base = f"{proc}/{pid}"
    status_raw = _read(f"{base}/status")
    stat_raw = _read(f"{base}/stat")
    if status_raw is None or stat_raw is None:
        return None
    status = _status(status_raw)
    # /proc/<pid>/stat: "pid (comm) state ppid pgrp session tty_nr ... starttime(22)"; comm may hold spaces.
    after = stat_raw[stat_raw.rfind(b")") + 2:].split()
    ppid, pgrp, session, tty = int(after[1]), int(after[2]), int(after[3]), int(after[4])
    start_ts = _BOOT_NS + int(after[19]) * 1_000_000_000 // _CLK_TCK
    argv = [a.decode(errors="surrogateescape") for a in (_read(f"{base}/cmdline") or b"").split(b"\0")]
    if argv and argv[-1] == "":
        argv.pop()
    env = [e.decode(errors="surrogateescape") for e in (_read(f"{base}/environ") or b"").split(b"\0") if e]
    try:
        exepath = os.readlink(f"{base}/exe")
    except OSError:
        exepath = ""
    exepath, memfd = normalize_exepath(exepath)
    try:
        cwd = os.readlink(f"{base}/cwd")
    except OSError:
        cwd = ""
    loginuid_raw = _read(f"{base}/loginuid")
    uids = status.get("Uid", "0 0").split()
    gids = status.get("Gid", "0 0").split()
    name = status.get("Name", "")
    nspid = status.get("NSpid", str(pid)).split()
    cgroup = containers.for_pid(pid, proc=proc)
    info = ProcessInfo(
        pid=pid, tid=pid, ppid=ppid, vpid=int(nspid[-1]), vtid=int(nspid[-1]), name=name,
        exe=argv[0] if argv else name, exepath=exepath, args=argv[1:], cmdline=" ".join([name, *argv[1:]]),
        env=env, cwd=cwd + "/" if cwd and not cwd.endswith("/") else cwd, uid=int(uids[0]), euid=int(uids[1]),
        gid=int(gids[0]), egid=int(gids[1]), loginuid=_loginuid(loginuid_raw), tty=tty, sid=session, pgid=pgrp,
        start_ts=start_ts, cap_effective=int(status.get("CapEff", "0"), 16),
        cap_permitted=int(status.get("CapPrm", "0"), 16), cap_inheritable=int(status.get("CapInh", "0"), 16),
        exe_from_memfd=memfd, container_id=cgroup.id,
    )
    fill_exe_facts(info, proc=proc, users=users)
    return info


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def fill_exe_facts(info: ProcessInfo, *, proc: str = "/proc", users: ContainerUsers | None = None) -> None:
    """What the kernel does not say about a live process's executable: its inode's change and modification
    times (``proc.exe_ino.ctime``/``mtime``), writable by its user, and for a container process which overlay
    layer it comes from and its users' names there (``proc``: where the host's procfs is seen; ``users``: where
    those names are remembered, see ``read_process``)."""
    st = _stat(f"{proc}/{info.pid}/exe")
    if st is not None and not info.exe_ino_ctime and (not info.exe_ino or st.st_ino == info.exe_ino):
        info.exe_ino_ctime, info.exe_ino_mtime = st.st_ctime_ns, st.st_mtime_ns  # unless the kernel said them
    info.exe_writable = st is not None and exe_writable(
        info.pid, uid=info.euid, gid=info.egid, cap_effective=info.cap_effective, proc=proc, st=st)
    if info.container_id not in ("", containers.HOST):
        if not info.exe_from_memfd:
            layer = _overlay_layer(info.pid, info.exepath, proc=proc)
            info.exe_upper_layer, info.exe_lower_layer = layer == "upper", layer == "lower"
        users = users if users is not None else ContainerUsers()
        info.user_name = users.name(info.pid, info.uid, info.container_id, proc=proc)
        if info.loginuid not in (None, -1):
            info.loginuser_name = users.name(info.pid, info.loginuid, info.container_id, proc=proc)


class ContainerUsers:
    """User names inside containers, each from the container's own user database
    (``<proc>/<pid>/root/etc/passwd``), remembered per (container, uid) up to ``max_size`` (oldest out first).
    A ``ProcessTable`` keeps one (``table.users``) for the processes it reads and its decoders fill."""

    def __init__(self, *, max_size: int = 4096) -> None:
        self.max_size = max_size
        self._names: OrderedDict[tuple[str, int], str | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._names)

    def name(self, pid: int, uid: int | None, container_id: str, *, proc: str = "/proc") -> str | None:
        """The name of ``uid`` in the container of process ``pid``; None when the container has no entry for it
        (uid 0 is ``root`` regardless) or its database cannot be read now (then nothing is remembered)."""
        if uid is None:
            return None
        if uid == 0:
            return "root"
        key = (container_id, uid)
        names = self._names
        if key in names:
            return names[key]
        data = _read(f"{proc}/{pid}/root/etc/passwd")
        if data is None:
            return None  # unreadable now (the process is gone): not an answer to remember
        name = None
        for line in data.splitlines():
            parts = line.split(b":")
            if len(parts) > 2 and parts[2].strip().isdigit() and int(parts[2]) == uid:
                name = parts[0].decode(errors="surrogateescape")
                break
        names[key] = name
        if len(names) > self.max_size:
            names.popitem(last=False)
        return name


def _loginuid(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    value = int(raw.strip() or b"-1")
    return -1 if value == 0xFFFFFFFF else value


_FIELDS = tuple(f.name for f in fields(ProcessInfo))


def _copy(info: ProcessInfo) -> ProcessInfo:
    return ProcessInfo(*[getattr(info, name) for name in _FIELDS])


class ProcessTable:
    """Live processes by pid, bounded; ``get`` fills gaps from ``proc`` (``/proc``) and links parents."""

    def __init__(self, *, max_size: int = 32768, reader: Callable[[int], ProcessInfo | None] | None = None,
                 proc: str = "/proc") -> None:
        self.max_size = max_size
        self.proc = proc
        self.users = ContainerUsers()  # user names inside containers, for what this table reads and is fed
        self._reader: Callable[[int], ProcessInfo | None] = (
            reader if reader is not None else functools.partial(read_process, proc=proc, users=self.users))
        self._procs: OrderedDict[int, ProcessInfo] = OrderedDict()
        # ``link`` is O(1) while no pid changed its entry: the table's generation moves on every change of the
        # pid -> process mapping, and a chain linked at the current generation is still the table's chain.
        self._generation = 0
        self._linked: dict[int, tuple[ProcessInfo, int]] = {}
        self.evictions = 0
        self.misses = 0

    @property
    def reader(self) -> Callable[[int], ProcessInfo | None]:
        """How a process the table has not seen is read (``read_process`` by default)."""
        return self._reader

    @reader.setter
    def reader(self, reader: Callable[[int], ProcessInfo | None]) -> None:
        self._reader = reader

    def __len__(self) -> int:
        return len(self._procs)

    def __contains__(self, pid: int) -> bool:
        return pid in self._procs

    def scan(self, *, proc: str | None = None) -> int:
        """Load every process under ``proc`` (default: the table's; the start-up snapshot); returns how many."""
        count = 0
        for entry in os.listdir(proc or self.proc):
            if entry.isdigit() and (info := self._reader(int(entry))) is not None:
                self.put(info)
                count += 1
        return count

    def put(self, info: ProcessInfo) -> ProcessInfo:
        procs = self._procs
        if procs.get(info.pid) is not info:
            procs[info.pid] = info
            self._generation += 1
        procs.move_to_end(info.pid)
        while len(procs) > self.max_size:
            pid, _ = procs.popitem(last=False)
            self._linked.pop(pid, None)
            self.evictions += 1
        return info

    def get(self, pid: int, *, refresh: bool = False) -> ProcessInfo | None:
        """The process with its parent chain linked (read from ``/proc`` when unknown or ``refresh``)."""
        info = None if refresh else self._procs.get(pid)
        if info is not None:  # the common case, with ``link``'s check inlined: most events find their process
            self._procs.move_to_end(pid)
            linked = self._linked.get(pid)
            if linked is None or linked[0] is not info or linked[1] != self._generation:
                self.link(info)
            return info
        self.misses += 1
        info = self._reader(pid)
        if info is None:
            return self._procs.get(pid)
        self.put(info)
        self.link(info)
        return info

    def link(self, info: ProcessInfo, *, depth: int = 64) -> None:
        """Set ``parent`` along the chain from the table (reading unknown ancestors from ``/proc``); nothing to do
        when ``info`` was linked since the last change of the table (an ancestor that could not be read then is
        not asked for again until something changes)."""
        linked = self._linked.get(info.pid)
        if linked is not None and linked[0] is info and linked[1] == self._generation:
            return
        self._walk(info, depth)
        self._linked[info.pid] = (info, self._generation)

    def _walk(self, info: ProcessInfo, depth: int) -> None:
        child = info
        for _ in range(depth):
            if child.ppid <= 0 or child.ppid == child.pid:
                child.parent = None
                return
            parent = self._procs.get(child.ppid)
            if parent is None:
                parent = self._reader(child.ppid)
                if parent is None:
                    child.parent = None
                    return
                self.put(parent)
            child.parent = parent
            child = parent

    def on_fork(self, parent_pid: int, child_pid: int) -> ProcessInfo | None:
        parent = self._procs.get(parent_pid)
        if parent is None:
            return self.get(child_pid)
        child = _copy(parent)  # the child shares what it inherits, as ``dataclasses.replace`` would, 10x cheaper
        child.pid = child.tid = child_pid
        child.ppid = parent_pid
        child.parent = parent
        return self.put(child)

    def on_exec(self, pid: int) -> ProcessInfo | None:
        return self.get(pid, refresh=True)

    def on_exit(self, pid: int) -> ProcessInfo | None:
        self._linked.pop(pid, None)
        gone = self._procs.pop(pid, None)
        if gone is not None:
            self._generation += 1
        return gone
