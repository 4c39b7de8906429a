"""Field table for ``proc.*`` and ``thread.*``: the process an event belongs to, its ancestors and session.

Owns: the ``process`` and ``thread`` field classes and their extractors over ``SyscallEvent.proc``
(``ProcessInfo`` and its ``parent`` chain). Semantics follow Falco's:
* ``proc.name`` is the comm the kernel keeps (up to 15 chars); ``proc.exe`` is argv[0]; ``proc.exepath`` the
  resolved executable path;
* ``proc.aname[N]``/``proc.apid[N]``/... read the N-th ancestor (``[0]`` is the process itself, ``[1]`` the
  parent); without an index they list every known ancestor, so ``proc.aname = bash`` matches any. They are list
  fields (``is_list``), so an indexed read is a one-element list (a list field always yields a list);
* ``proc.env`` without argument is the whole environment; ``proc.env[NAME]`` one variable's value;
* ``thread.cap_*`` render capability masks as names (``CAP_CHOWN CAP_SYS_ADMIN``);
* the session leader (``proc.sname``) and process-group leader (``proc.vpgid.name``) are found among the
  known ancestors; unknown means missing.

Must not: read ``/proc`` or resolve users (``engine.fields.user``); only read the event's process objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from engine.events.syscall import ProcessInfo
from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType
from engine.fields.flags import capability_names

T = FieldType
Getter = Callable[[ProcessInfo], object]


_MAX_DEPTH = 512  # a longer chain can only be a cycle in a bad recording


def ancestors(proc: ProcessInfo) -> Iterator[ProcessInfo]:
    """The process's ancestors, parent first (a chain that loops is cut after ``_MAX_DEPTH``)."""
    node = proc.parent
    depth = 0
    while node is not None and depth < _MAX_DEPTH:
        yield node
        node = node.parent
        depth += 1


def _own(get: Getter) -> Callable[[Any, Any], Any]:
    def extract(event: Any, _arg: Any) -> Any:
        proc = event.proc
        return None if proc is None else get(proc)
    return extract


def _parent(get: Getter) -> Callable[[Any, Any], Any]:
    def extract(event: Any, _arg: Any) -> Any:
        proc = event.proc
        if proc is None or proc.parent is None:
            return None
        return get(proc.parent)
    return extract


def _ancestor(get: Getter) -> Callable[[Any, Any], Any]:
    """``[N]``: ``[value]`` of the N-th ancestor (0 = the process); no index: every ancestor's value, parent first."""
    def extract(event: Any, arg: Any) -> Any:
        proc = event.proc
        if proc is None:
            return None
        if arg is None:
            values = []
            node = proc.parent
            depth = 0
            while node is not None and depth < _MAX_DEPTH:
                value = get(node)
                if value is not None:
                    values.append(value)
                node = node.parent
                depth += 1
            return values or None
        index = arg if type(arg) is int else _index(arg)
        if index is None or index < 0:
            return None
        node = proc
        while index and node is not None:
            node = node.parent
            index -= 1
        value = None if node is None else get(node)
        return None if value is None else [value]
    return extract


def _index(arg: Any) -> int | None:
    try:
        return int(arg)
    except (TypeError, ValueError):
        return None


def _leader(attr: str, get: Getter, *, virtual: bool = False) -> Callable[[Any, Any], Any]:
    """A field of the leader of the process's session (``sid``) or group (``pgid``), found among ancestors."""
    def extract(event: Any, _arg: Any) -> Any:
        proc = event.proc
        if proc is None:
            return None
        want = getattr(proc, attr)
        if not want:
            return None
        pid_attr = "vpid" if virtual else "pid"
        for node in (proc, *ancestors(proc)):
            if getattr(node, pid_attr) == want:
                return get(node)
        return None
    return extract


def _name(p: Any) -> str | None:
    return p.name or None


def _exe(p: Any) -> str | None:
    return p.exe or None


def _exepath(p: Any) -> str | None:
    return p.exepath or None


def _cmdline(p: Any) -> str | None:
    if p.cmdline:
        cmdline: str | None = p.cmdline
        return cmdline
    if not p.name:
        return None
    return " ".join((p.name, *p.args)) if p.args else p.name


def _args(p: Any) -> str:
    return " ".join(p.args)


def _exeline(p: Any) -> str | None:
    head = p.exe or p.name
    if not head:
        return None
    return " ".join((head, *p.args))


def _env(event: Any, arg: Any) -> Any:
    proc = event.proc
    if proc is None:
        return None
    if arg is None:
        return " ".join(proc.env) if proc.env else None
    return _env_lookup(proc, str(arg))


def _env_lookup(proc: Any, key: str) -> str | None:
    prefix = key + "="
    for item in proc.env:
        if item.startswith(prefix):
            value: str = item[len(prefix):]
            return value
    return None


def _aenv(event: Any, arg: Any) -> Any:
    """``proc.aenv[NAME]``: the variable from the process or its nearest ancestor that has it."""
    proc = event.proc
    if proc is None or arg is None:
        return _env(event, arg)
    for node in (proc, *ancestors(proc)):
        got = _env_lookup(node, str(arg))
        if got is not None:
            return got
    return None


def _duration(get_start: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def extract(event: Any, _arg: Any) -> Any:
        start = get_start(event)
        return None if not start else max(0, event.ts - start)
    return extract


def _start(p: Any) -> int | None:
    return p.start_ts or None


@lru_cache(maxsize=256)
def _cap_text(mask: int) -> str:
    return " ".join(capability_names(mask))


def _caps(attr: str) -> Callable[[Any, Any], Any]:
    def extract(event: Any, _arg: Any) -> Any:
        proc = event.proc
        return None if proc is None else _cap_text(getattr(proc, attr))
    return extract


def _probe(kind: str) -> Callable[[Any, Any], Any]:
    """True when the process (or an ancestor inside the same container) runs the container's probe command."""
    def extract(event: Any, _arg: Any) -> bool:
        proc, container = event.proc, event.container
        if proc is None or container is None:
            return False
        command = getattr(container, kind)
        if not command:
            return False
        for node in (proc, *ancestors(proc)):
            if node.container_id != proc.container_id:
                break
            if [node.exe or node.name, *node.args] == list(command):
                return True
        return False
    return extract


def _ino_ctime_since_start(event: Any, _arg: Any) -> int | None:
    p = event.proc
    if p is None or not p.exe_ino_ctime or not p.start_ts:
        return None
    delta: int = p.exe_ino_ctime - p.start_ts
    return delta


def _ino_ctime_since_pidns(event: Any, _arg: Any) -> int | None:
    p = event.proc
    if p is None or not p.exe_ino_ctime or not p.pidns_init_start_ts:
        return None
    delta: int = p.exe_ino_ctime - p.pidns_init_start_ts
    return delta


def _f(name: str, ftype: FieldType, desc: str, extract: Any, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=ftype, desc=desc, extract=extract, **kw)


_IDX = {"arg": ArgMode.OPTIONAL, "arg_kind": ArgKind.INDEX, "match_any": True}  # any ancestor without index

_PROC = (
    _f("proc.exe", T.STRING, "argv[0] as the process was started.", _own(_exe)),
    _f("proc.pexe", T.STRING, "argv[0] of the parent.", _parent(_exe)),
    _f("proc.aexe", T.STRING, "argv[0] of an ancestor ([1] the parent...); without index any ancestor.",
       _ancestor(_exe), is_list=True, **_IDX),
    _f("proc.exepath", T.FSPATH, "full path of the executable.", _own(_exepath)),
    _f("proc.pexepath", T.FSPATH, "full executable path of the parent.", _parent(_exepath)),
    _f("proc.aexepath", T.FSPATH, "full executable path of an ancestor; without index any ancestor.",
       _ancestor(_exepath), is_list=True, **_IDX),
    _f("proc.name", T.STRING, "process name (the kernel's comm, up to 15 characters).", _own(_name)),
    _f("proc.pname", T.STRING, "name of the parent.", _parent(_name)),
    _f("proc.aname", T.STRING, "name of an ancestor ([1] the parent, [2] the grandparent...); without index "
       "any ancestor.", _ancestor(_name), is_list=True, **_IDX),
    _f("proc.args", T.STRING, "command-line arguments after the name, space separated.", _own(_args)),
    _f("proc.cmdline", T.STRING, "name and arguments, space separated.", _own(_cmdline)),
    _f("proc.pcmdline", T.STRING, "command line of the parent.", _parent(_cmdline)),
    _f("proc.acmdline", T.STRING, "command line of an ancestor; without index any ancestor.",
       _ancestor(_cmdline), is_list=True, **_IDX),
    _f("proc.cmdnargs", T.UINT64, "number of command-line arguments.", _own(lambda p: len(p.args))),
    _f("proc.cmdlenargs", T.UINT64, "total length of the arguments (separators excluded).",
       _own(lambda p: sum(len(a) for a in p.args))),
    _f("proc.exeline", T.STRING, "argv[0] and arguments, space separated.", _own(_exeline)),
    _f("proc.env", T.STRING, "environment (KEY=value, space separated), or one variable's value with "
       "proc.env[KEY].", _env, arg=ArgMode.OPTIONAL, arg_kind=ArgKind.KEY),
    _f("proc.aenv", T.STRING, "a variable from the process or its nearest ancestor that sets it.", _aenv,
       arg=ArgMode.OPTIONAL, arg_kind=ArgKind.KEY),
    _f("proc.cwd", T.FSPATH, "current working directory.", _own(lambda p: p.cwd or None)),
    _f("proc.tty", T.UINT32, "controlling terminal (0 when none).", _own(lambda p: p.tty)),
    _f("proc.pid", T.PID, "process id.", _own(lambda p: p.pid)),
    _f("proc.ppid", T.PID, "parent process id.", _own(lambda p: p.ppid or (p.parent.pid if p.parent else None))),
    _f("proc.apid", T.PID, "pid of an ancestor; without index any ancestor.",
       _ancestor(lambda p: p.pid), is_list=True, **_IDX),
    _f("proc.vpid", T.PID, "process id inside its pid namespace.", _own(lambda p: p.vpid)),
    _f("proc.pvpid", T.PID, "namespace pid of the parent.", _parent(lambda p: p.vpid)),
    _f("proc.sid", T.PID, "session id.", _own(lambda p: p.sid)),
    _f("proc.sname", T.STRING, "name of the session leader.", _leader("sid", _name)),
    _f("proc.sid.exe", T.STRING, "argv[0] of the session leader.", _leader("sid", _exe)),
    _f("proc.sid.exepath", T.FSPATH, "executable path of the session leader.", _leader("sid", _exepath)),
    _f("proc.is_sid_leader", T.BOOL, "true when the process leads its session.",
       _own(lambda p: bool(p.sid) and p.sid in (p.pid, p.vpid))),
    _f("proc.pgid", T.PID, "process group id.", _own(lambda p: p.pgid)),
    _f("proc.pgid.name", T.STRING, "name of the process-group leader.", _leader("pgid", _name)),
    _f("proc.pgid.exe", T.STRING, "argv[0] of the process-group leader.", _leader("pgid", _exe)),
    _f("proc.pgid.exepath", T.FSPATH, "executable path of the process-group leader.", _leader("pgid", _exepath)),
    _f("proc.is_pgid_leader", T.BOOL, "true when the process leads its process group.",
       _own(lambda p: bool(p.pgid) and p.pgid == p.pid)),
    _f("proc.vpgid", T.PID, "process group id inside the pid namespace.", _own(lambda p: p.vpgid)),
    _f("proc.vpgid.name", T.STRING, "name of the process-group leader (namespace ids).",
       _leader("vpgid", _name, virtual=True)),
    _f("proc.vpgid.exe", T.STRING, "argv[0] of the process-group leader (namespace ids).",
       _leader("vpgid", _exe, virtual=True)),
    _f("proc.vpgid.exepath", T.FSPATH, "executable path of the process-group leader (namespace ids).",
       _leader("vpgid", _exepath, virtual=True)),
    _f("proc.is_vpgid_leader", T.BOOL, "true when the process leads its process group (namespace ids).",
       _own(lambda p: bool(p.vpgid) and p.vpgid == p.vpid)),
    _f("proc.duration", T.RELTIME, "nanoseconds since the process started.",
       _duration(lambda e: e.proc.start_ts if e.proc else None)),
    _f("proc.ppid.duration", T.RELTIME, "nanoseconds since the parent started.",
       _duration(lambda e: e.proc.parent.start_ts if e.proc and e.proc.parent else None)),
    _f("proc.pid.ts", T.ABSTIME, "start time of the process.", _own(_start)),
    _f("proc.ppid.ts", T.ABSTIME, "start time of the parent.", _parent(_start)),
    _f("proc.loginshellid", T.PID, "pid of the oldest shell ancestor.", _own(lambda p: _login_shell(p))),
    _f("proc.is_exe_writable", T.BOOL, "true when the executable is writable by the process's user.",
       _own(lambda p: p.exe_writable)),
    _f("proc.is_exe_upper_layer", T.BOOL, "true when the executable lives in an overlayfs upper layer "
       "(written after the container started).", _own(lambda p: p.exe_upper_layer)),
    _f("proc.is_exe_lower_layer", T.BOOL, "true when the executable comes from an overlayfs lower layer.",
       _own(lambda p: p.exe_lower_layer)),
    _f("proc.is_exe_from_memfd", T.BOOL, "true when the executable is a memfd (fileless execution).",
       _own(lambda p: p.exe_from_memfd)),
    _f("proc.exe_ino", T.INT64, "inode of the executable.", _own(lambda p: p.exe_ino or None)),
    _f("proc.exe_ino.ctime", T.ABSTIME, "last status change time of the executable's inode.",
       _own(lambda p: p.exe_ino_ctime or None)),
    _f("proc.exe_ino.mtime", T.ABSTIME, "last modification time of the executable's inode.",
       _own(lambda p: p.exe_ino_mtime or None)),
    _f("proc.exe_ino.ctime_duration_proc_start", T.RELTIME, "inode change time minus process start time.",
       _ino_ctime_since_start),
    _f("proc.exe_ino.ctime_duration_pidns_start", T.RELTIME, "inode change time minus pid-namespace start.",
       _ino_ctime_since_pidns),
    _f("proc.pidns_init_start_ts", T.ABSTIME, "start time of the pid namespace's init.",
       _own(lambda p: p.pidns_init_start_ts or None)),
    _f("proc.is_container_healthcheck", T.BOOL, "true when the process runs the container's healthcheck.",
       _probe("healthcheck")),
    _f("proc.is_container_liveness_probe", T.BOOL, "true when the process runs the pod's liveness probe.",
       _probe("liveness_probe")),
    _f("proc.is_container_readiness_probe", T.BOOL, "true when the process runs the pod's readiness probe.",
       _probe("readiness_probe")),
)

_SHELLS = frozenset({"bash", "sh", "zsh", "ksh", "csh", "tcsh", "dash", "ash", "fish", "mksh", "busybox"})


def _login_shell(proc: Any) -> int | None:
    found: int | None = None
    for node in (proc, *ancestors(proc)):
        if node.name in _SHELLS:
            found = node.pid
    return found


_THREAD = (
    _f("thread.tid", T.PID, "thread id.", lambda e, a: e.tid or (e.proc.tid if e.proc else None)),
    _f("thread.vtid", T.PID, "thread id inside the pid namespace.", _own(lambda p: p.vtid)),
    _f("thread.ismain", T.BOOL, "true for the process's main thread.",
       lambda e, a: None if e.proc is None else (e.tid or e.proc.tid) == e.proc.pid),
    _f("thread.cap_effective", T.STRING, "effective capabilities, as names.", _caps("cap_effective")),
    _f("thread.cap_permitted", T.STRING, "permitted capabilities, as names.", _caps("cap_permitted")),
    _f("thread.cap_inheritable", T.STRING, "inheritable capabilities, as names.", _caps("cap_inheritable")),
)

FIELD_CLASSES = (
    FieldClass(name="process", sources=("syscall",), fields=_PROC,
               desc="The process of the event, its ancestors, session and process group."),
    FieldClass(name="thread", sources=("syscall",), fields=_THREAD, desc="The thread of the event."),
)
