"""Field table for the ``evt.*`` (and ``syscall.type``) fields of the ``syscall`` source.

Owns: the ``evt`` field class and its extractors over ``SyscallEvent``: type, direction, number, times, return
value, per-event arguments (``evt.arg.NAME``, ``evt.arg[N]``, ``evt.rawarg.NAME``, ``evt.args``), open/io
classification, category, host name and source. Re-exports ``EVENT_TYPES`` and ``SYSCALLS_FOR_EVENT`` from
``engine.fields.evttypes`` (the rules indexer and the ``evt.type`` set algebra read them from here).

Must not: read the kernel or ``/proc``; every value comes from the event object (host name from the environment).
"""

from __future__ import annotations

import errno
import os
import socket
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from engine.events.syscall import SyscallEvent
from engine.fields import flags as fl
from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType
from engine.fields.evttypes import (
    CATEGORIES,
    EVENT_ARG_BY_NAME,
    EVENT_ARGS,
    EVENT_TYPES,
    PSEUDO_EVENTS,
    SYSCALLS_FOR_EVENT,
    EventArg,
)

__all__ = ["EVENT_TYPES", "FIELD_CLASSES", "SYSCALLS_FOR_EVENT", "arg_value", "raw_arg"]

T = FieldType
_OPEN_EVENTS = frozenset({"open", "openat", "openat2", "open_by_handle_at", "creat"})
_O_CREAT, _O_ACCMODE = 0o100, 0o3
_CREAT_FLAGS = 0o1101  # creat() is open(O_CREAT|O_WRONLY|O_TRUNC)
_EXEC_BITS = 0o111
_IO_READ = frozenset({"read", "readv", "pread", "preadv", "preadv2", "recvfrom", "recvmsg", "recvmmsg",
                      "recv"})
_IO_WRITE = frozenset({"write", "writev", "pwrite", "pwritev", "pwritev2", "sendto", "sendmsg", "sendmmsg",
                       "send", "sendfile", "splice"})
_AT_FDCWD = -100


@cache
def hostname() -> str:
    """Falco's host name: ``FALCO_HOSTNAME`` when set (pods set it from the node name), else the kernel's."""
    return os.environ.get("FALCO_HOSTNAME") or socket.gethostname()


@lru_cache(maxsize=64)
def _utc_text(seconds: int, fmt: str) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(fmt)


# -- arguments --------------------------------------------------------------------------------------------------

def _arg_spec(event: Any, name: str) -> EventArg | None:
    table = EVENT_ARG_BY_NAME.get(event.type)
    return table.get(name) if table else None


def _arg_name(event: Any, arg: Any) -> str | None:
    """The argument name an ``evt.arg`` argument means: a name, or an index into the event's arguments."""
    if type(arg) is str and not arg.isdigit():
        return arg
    try:
        index = int(arg)
    except (TypeError, ValueError):
        return None
    specs = EVENT_ARGS.get(event.type)
    names = [a.name for a in specs] if specs else list(event.args)
    return names[index] if 0 <= index < len(names) else None


def raw_arg(event: SyscallEvent, arg: object) -> object:
    """``evt.rawarg.NAME``: the argument as the backend stored it (``res`` falls back to the return value)."""
    name = _arg_name(event, arg)
    if name is None:
        return None
    if name in event.args:
        return event.args[name]
    if name == "res":
        return event.res
    specs = EVENT_ARGS.get(event.type)
    if specs and specs[0].name == name and name in ("fd", "res_or_fd"):
        return event.res  # the exit event's first parameter is the return value
    return None


def _text(value: Any) -> str:
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    if type(value) is bool:
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return str(value)


def _render(event: Any, name: str, value: Any, *, with_raw: bool) -> str:
    spec = _arg_spec(event, name)
    if spec is not None and type(value) is int:
        if spec.table:
            names = fl.render(value, spec.table) or ""
            return f"{value}({names})" if with_raw else names
        if spec.name in ("res", "fd", "res_or_fd") and value < 0:
            code = errno.errorcode.get(-value)
            return f"{value}({code})" if code else str(value)
        if spec.type is T.FD and value == _AT_FDCWD:
            return f"{value}(AT_FDCWD)" if with_raw else "AT_FDCWD"
        if spec.type is T.MODE:
            return f"0{value:o}"
    return _text(value)


@lru_cache(maxsize=4096)
def _arg_plan(etype: str, name: str) -> tuple[bool, str | None, bool, bool, bool]:
    """How ``evt.arg`` renders argument ``name`` of an ``etype`` event, decided once per (type, name) as
    ``_render`` decides it: (a path, its flag/enum table, an errno when negative, a descriptor, a mode)."""
    spec = EVENT_ARG_BY_NAME.get(etype, {}).get(name)
    if spec is None:
        return False, None, False, False, False
    return (spec.type is T.FSPATH, spec.table, spec.name in ("res", "fd", "res_or_fd"), spec.type is T.FD,
            spec.type is T.MODE)


def arg_value(event: SyscallEvent, arg: object) -> str | None:
    """``evt.arg.NAME`` / ``evt.arg[N]``: the argument rendered as Falco prints it (flags as their names).
    Renders exactly as ``_render(..., with_raw=False)`` does, with the argument's spec looked up once per type."""
    name = arg if type(arg) is str and not arg.isdigit() else _arg_name(event, arg)
    if name is None:
        return None
    value = event.args.get(name)
    if value is None:
        value = raw_arg(event, name)
        if value is None:
            return None
    is_path, table, errno_name, is_fd, is_mode = _arg_plan(event.type, name)
    if type(value) is int:
        if table:
            return fl.render(value, table) or ""
        if errno_name and value < 0:
            code = errno.errorcode.get(-value)
            return f"{value}({code})" if code else str(value)
        if is_fd and value == _AT_FDCWD:
            return "AT_FDCWD"
        return f"0{value:o}" if is_mode else str(value)
    if is_path and type(value) is str and value:  # Falco shows a path argument resolved (rawarg: as given)
        return resolved_path(event, name) or value
    return _text(value)


def _args(event: Any, _arg: Any) -> str | None:
    specs = EVENT_ARGS.get(event.type)
    names = [a.name for a in specs if a.name in event.args] if specs else []
    names += [n for n in event.args if n not in names]
    if not names:
        return None
    return " ".join(f"{n}={_render(event, n, event.args[n], with_raw=True)}" for n in names)


# -- return value and classification ------------------------------------------------------------------------

def _res(event: Any, _arg: Any) -> str | None:
    res = event.res
    if res is None:
        return None
    if res >= 0:
        return "SUCCESS"
    return errno.errorcode.get(-res, str(res))


def _failed(event: Any, _arg: Any) -> bool | None:
    return None if event.res is None else event.res < 0


def _open_flags(event: Any) -> int | None:
    if event.type not in _OPEN_EVENTS:
        return None
    if event.type == "creat":
        return _CREAT_FLAGS
    value = event.args.get("flags")
    if type(value) is int:
        return value
    return event.fd.open_flags if event.fd is not None else None


def _is_open_read(event: Any, _arg: Any) -> bool:
    value = _open_flags(event)
    return value is not None and (value & _O_ACCMODE) in (0, 2)


def _is_open_write(event: Any, _arg: Any) -> bool:
    value = _open_flags(event)
    return value is not None and (value & _O_ACCMODE) in (1, 2)


def _is_open_create(event: Any, _arg: Any) -> bool:
    value = _open_flags(event)
    return value is not None and bool(value & _O_CREAT)


def _is_open_exec(event: Any, _arg: Any) -> bool:
    value = _open_flags(event)
    mode = event.args.get("mode")
    return value is not None and bool(value & _O_CREAT) and type(mode) is int and bool(mode & _EXEC_BITS)


def _is_io(event: Any, _arg: Any) -> bool:
    return event.type in _IO_READ or event.type in _IO_WRITE


def _io_dir(event: Any, _arg: Any) -> str | None:
    return "r" if event.type in _IO_READ else "w" if event.type in _IO_WRITE else None


def _buffer(event: Any, _arg: Any) -> bytes | None:
    data = event.args.get("data")
    if data is None:
        return None
    return data if type(data) is bytes else _text(data).encode()


def _buflen(event: Any, _arg: Any) -> int | None:
    data = _buffer(event, None)
    return None if data is None else len(data)


def _is_syslog(event: Any, _arg: Any) -> bool:
    return event.type in _IO_WRITE and event.fd is not None and event.fd.name in ("/dev/log", "/run/systemd/journal/syslog")


_DIRFD_OF = {"name": ("dirfd",), "path": ("dirfd",), "pathname": ("dirfd",), "filename": ("dirfd",),
             "oldpath": ("olddirfd", "olddir"), "newpath": ("newdirfd", "newdir"), "linkpath": ("linkdirfd",)}


def resolved_path(event: SyscallEvent, name: str) -> str | None:
    """A path argument made absolute as Falco resolves it: the kernel's resolution when the backend captured one,
    an absolute path normalized, a relative one against the directory fd it names or else the thread's cwd.
    None when the argument is missing or relative to a directory fd whose path is not known."""
    path = event.args.get(name)
    if type(path) is not str or not path:
        return None
    paths = event.paths
    if paths is not None and name in paths:
        return paths[name]
    if path[0] == "/":
        return os.path.normpath(path)
    for dirfd_name in _DIRFD_OF.get(name, ()):
        dirfd = event.args.get(dirfd_name)
        if dirfd is not None and dirfd != _AT_FDCWD:
            return None  # relative to another directory, which the backend did not resolve
    cwd = event.proc.cwd if event.proc is not None else ""
    return os.path.normpath(os.path.join(cwd, path)) if cwd else None


def find_path(event: SyscallEvent, names: tuple[str, ...]) -> str | None:
    """``resolved_path`` of the first of ``names`` the event has."""
    args = event.args
    for name in names:
        if name in args:
            return resolved_path(event, name)
    return None


_PATH_ARGS = ("name", "path", "pathname", "filename", "newpath", "linkpath")
_SRC_ARGS = ("oldpath", "target")
_DST_ARGS = ("newpath", "linkpath")


def _time(fmt: str, *, nanos: bool) -> Any:
    def extract(event: Any, _arg: Any) -> str:
        text = _utc_text(event.ts // 1_000_000_000, fmt)
        return f"{text}.{event.ts % 1_000_000_000:09d}" if nanos else text
    return extract


def _iso8601(event: Any, _arg: Any) -> str:
    return f"{_utc_text(event.ts // 1_000_000_000, '%Y-%m-%dT%H:%M:%S')}.{event.ts % 1_000_000_000:09d}Z"


def _f(name: str, ftype: FieldType, desc: str, extract: Any, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=ftype, desc=desc, extract=extract, **kw)


_FIELDS = (
    _f("evt.num", T.UINT64, "event number within the capture.", lambda e, a: e.num),
    _f("evt.time", T.STRING, "event time (UTC) as HH:MM:SS.nnnnnnnnn.", _time("%H:%M:%S", nanos=True)),
    _f("evt.time.s", T.STRING, "event time (UTC) as HH:MM:SS.", _time("%H:%M:%S", nanos=False)),
    _f("evt.time.iso8601", T.STRING, "event time in ISO 8601 (UTC) with nanoseconds.", _iso8601),
    _f("evt.datetime", T.STRING, "event date and time (UTC) with nanoseconds.",
       _time("%Y-%m-%d %H:%M:%S", nanos=True)),
    _f("evt.datetime.s", T.STRING, "event date and time (UTC) without nanoseconds.",
       _time("%Y-%m-%d %H:%M:%S", nanos=False)),
    _f("evt.rawtime", T.ABSTIME, "event time in nanoseconds since the epoch.", lambda e, a: e.ts),
    _f("evt.rawtime.s", T.ABSTIME, "seconds part of the event time.", lambda e, a: e.ts // 1_000_000_000),
    _f("evt.rawtime.ns", T.ABSTIME, "nanoseconds part of the event time.", lambda e, a: e.ts % 1_000_000_000),
    _f("evt.dir", T.STRING, "direction: '>' for enter events, '<' for exit events.", lambda e, a: e.dir),
    _f("evt.type", T.STRING, "event type, named after the syscall (open, execve...) or the kernel event.",
       lambda e, a: e.type),
    _f("syscall.type", T.STRING, "the syscall's name when the event is a syscall, else missing.",
       lambda e, a: None if e.type in PSEUDO_EVENTS else e.type),
    _f("evt.category", T.STRING, "event category (file, net, process, memory, ipc, signal, ... other).",
       lambda e, a: CATEGORIES.get(e.type, "other")),
    _f("evt.cpu", T.INT64, "CPU the event happened on.", lambda e, a: e.cpu),
    _f("evt.args", T.STRING, "all arguments as name=value text.", _args),
    _f("evt.arg", T.STRING, "one argument by name (evt.arg.flags, evt.arg[flags]) or position (evt.arg[0]), "
       "rendered as text (flags and enums as names).", arg_value, arg=ArgMode.REQUIRED,
       arg_kind=ArgKind.INDEX_OR_KEY, dotted_arg=True),
    _f("evt.rawarg", T.INT64, "one argument by name, as its raw value (numbers stay numbers).", raw_arg,
       arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY, dotted_arg=True),
    _f("evt.info", T.STRING, "the arguments as text (same as evt.args for syscalls).", _args),
    _f("evt.buffer", T.BYTEBUF, "the data buffer of I/O events (read, write, send, recv...).", _buffer),
    _f("evt.buflen", T.UINT64, "length of the data buffer.", _buflen),
    _f("evt.res", T.STRING, "return value as text: SUCCESS or the errno name (ENOENT...).", _res),
    _f("evt.rawres", T.INT64, "return value as a number.", lambda e, a: e.res),
    _f("evt.failed", T.BOOL, "true when the event returned an error.", _failed),
    _f("evt.is_io", T.BOOL, "true for events that read or write data.", _is_io),
    _f("evt.is_io_read", T.BOOL, "true for events that read data.", lambda e, a: e.type in _IO_READ),
    _f("evt.is_io_write", T.BOOL, "true for events that write data.", lambda e, a: e.type in _IO_WRITE),
    _f("evt.io_dir", T.STRING, "'r' for reads, 'w' for writes.", _io_dir),
    _f("evt.is_wait", T.BOOL, "true for events that make the thread wait (never set here).", lambda e, a: False),
    _f("evt.is_syslog", T.BOOL, "true for writes to the syslog socket.", _is_syslog),
    _f("evt.is_open_read", T.BOOL, "true for open events that open for reading.", _is_open_read),
    _f("evt.is_open_write", T.BOOL, "true for open events that open for writing.", _is_open_write),
    _f("evt.is_open_create", T.BOOL, "true for open events that create the file (O_CREAT).", _is_open_create),
    _f("evt.is_open_exec", T.BOOL, "true for open events that create a file with execute permission.",
       _is_open_exec),
    _f("evt.abspath", T.FSPATH, "absolute path of a path argument (resolved against its directory fd or the cwd).",
       lambda e, a: find_path(e, _PATH_ARGS)),
    _f("evt.abspath.src", T.FSPATH, "absolute source path of rename/link/symlink events.",
       lambda e, a: find_path(e, _SRC_ARGS)),
    _f("evt.abspath.dst", T.FSPATH, "absolute destination path of rename/link/symlink events.",
       lambda e, a: find_path(e, _DST_ARGS)),
    _f("evt.hostname", T.STRING, "host name (FALCO_HOSTNAME when set).", lambda e, a: hostname()),
    _f("evt.source", T.STRING, "event source name (syscall).", lambda e, a: "syscall"),
    _f("evt.pluginname", T.STRING, "plugin that generated the event (missing for syscalls).", lambda e, a: None),
    _f("evt.plugininfo", T.STRING, "plugin event summary (missing for syscalls).", lambda e, a: None),
    _f("evt.is_async", T.BOOL, "true for asynchronous meta events.", lambda e, a: e.type == "asyncevent"),
    _f("evt.asynctype", T.STRING, "type of an asynchronous event (missing here).", lambda e, a: None),
    _f("evt.latency", T.RELTIME, "time between enter and exit (0: not measured).", lambda e, a: 0),
)

FIELD_CLASSES = (FieldClass(name="evt", sources=("syscall",), fields=_FIELDS,
                            desc="Generic event fields: type, time, direction, return value and arguments."),)
