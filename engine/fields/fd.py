"""Field table for ``fd.*`` (the file descriptor an event acts on) and ``fs.path.*`` (paths in file syscalls).

Owns: the ``fd`` and ``fs.path`` field classes. Socket semantics follow libsinsp: ``FdInfo.sip/sport`` are the
connection's source (the client, ``fd.cip``/``fd.cport``) and ``dip/dport`` its destination (the server,
``fd.sip``/``fd.sport``); ``is_server`` says which end the process is, giving the local (``fd.lip``) and remote
(``fd.rip``) ends. ``fd.ip``, ``fd.port``, ``fd.net`` and ``fd.proto`` are about *either* end, so they are list
fields holding both values (a comparison matches when one end matches, as in Falco). Addresses are returned as
``ipaddress`` objects; the ``*.net`` fields return the address too (the operator checks it against networks).
``fd.name`` of a connected socket is ``cip:cport->sip:sport``. Reverse DNS names (``fd.sip.name``...) are not
resolved here and are missing. ``fd.types`` knows only the event's own fd (there is no fd table in an event).

Must not: look anything up on the network or in ``/proc``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from functools import lru_cache
from typing import Any

from engine.events.syscall import FdInfo
from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType
from engine.fields.evt import find_path, raw_arg

T = FieldType

TYPECHARS = {"file": "f", "directory": "d", "ipv4": "4", "ipv6": "6", "unix": "u", "pipe": "p", "event": "e",
             "signalfd": "s", "eventpoll": "l", "inotify": "i", "timerfd": "t", "netlink": "n", "bpf": "b",
             "userfaultfd": "u", "io_uring": "r", "memfd": "m", "pidfd": "P"}
_IP_TYPES = frozenset({"ipv4", "ipv6"})
_FILE_TYPES = frozenset({"file", "directory", "memfd"})


@lru_cache(maxsize=1024)
def _ip(text: str | None) -> Any:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# Used when the host has no services database (slim images).
_WELL_KNOWN = {20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "domain", 80: "http",
               110: "pop3", 123: "ntp", 143: "imap2", 443: "https", 465: "submissions", 587: "submission",
               993: "imaps", 995: "pop3s", 3306: "mysql", 5432: "postgresql", 6379: "redis"}


@lru_cache(maxsize=1024)
def _service(port: int, proto: str) -> str | None:
    try:
        return socket.getservbyport(port, proto)
    except (OSError, OverflowError):
        return _WELL_KNOWN.get(port)


def _fd(event: Any) -> Any:
    return event.fd


def _sock(event: Any) -> Any:
    fd = event.fd
    return fd if fd is not None and fd.type in _IP_TYPES else None


def _client(fd: Any) -> tuple[Any, int | None]:
    return _ip(fd.sip), fd.sport


def _server(fd: Any) -> tuple[Any, int | None]:
    return _ip(fd.dip), fd.dport


_NO_END = (None, None)


def _local(fd: Any) -> tuple[Any, int | None]:
    # A server socket with no peer (bound, listening) has a server address but no local/remote pair, as in
    # libsinsp, where only a connection's descriptor has these ends.
    if fd.is_server and fd.sip is None:
        return _NO_END
    return _server(fd) if fd.is_server else _client(fd)


def _remote(fd: Any) -> tuple[Any, int | None]:
    if fd.is_server and fd.sip is None:
        return _NO_END
    return _client(fd) if fd.is_server else _server(fd)


def _end_ip(end: Any) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        fd = _sock(event)
        return None if fd is None else end(fd)[0]
    return extract


def _end_port(end: Any) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        fd = _sock(event)
        return None if fd is None else end(fd)[1]
    return extract


def _end_proto(end: Any) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        fd = _sock(event)
        if fd is None or fd.l4proto not in ("tcp", "udp"):
            return None
        port = end(fd)[1]
        return None if port is None else _service(port, fd.l4proto)
    return extract


def _both(pick: int) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        fd = _sock(event)
        if fd is None:
            return None
        values = [v for v in (_client(fd)[pick], _server(fd)[pick]) if v is not None]
        return values or None
    return extract


def _both_proto(event: Any, _arg: Any) -> Any:
    values = [v for v in (_end_proto(_client)(event, None), _end_proto(_server)(event, None)) if v]
    return values or None


def tuple_name(fd: FdInfo) -> str | None:
    """``cip:cport->sip:sport`` for a socket whose two ends are known (addresses as text, IPv6 unbracketed)."""
    if fd.sip is None or fd.dip is None:
        return None
    return f"{fd.sip}:{fd.sport or 0}->{fd.dip}:{fd.dport or 0}"


def _name(event: Any, _arg: Any) -> str | None:
    fd = event.fd
    if fd is None:
        return None
    if fd.name:
        name: str | None = fd.name
        return name
    if fd.type in _IP_TYPES:  # a socket with no address yet has an empty name, not a missing one
        return tuple_name(fd) or ("" if fd.num >= 0 else None)
    return "" if fd.type == "unix" and fd.num >= 0 else None


def _directory(event: Any, _arg: Any) -> str | None:
    fd = event.fd
    if fd is None or fd.type not in _FILE_TYPES:
        return None
    if fd.directory:
        directory: str | None = fd.directory
        return directory
    if fd.type == "directory":
        return fd.name or None
    return os.path.dirname(fd.name) or None if fd.name else None


def _filename(event: Any, _arg: Any) -> str | None:
    fd = event.fd
    if fd is None or fd.type not in _FILE_TYPES or fd.type == "directory" or fd.num < 0:
        return None  # a failed open made no descriptor: libsinsp has a name for it (the path), not a file name
    if fd.filename:
        filename: str | None = fd.filename
        return filename
    return os.path.basename(fd.name) or None if fd.name else None


def _connected(event: Any, _arg: Any) -> bool | None:
    """As libsinsp keeps it for every descriptor in its table: false for anything but a connected socket; a socket
    whose two ends are known is connected unless the backend said otherwise."""
    fd = event.fd
    if fd is None or fd.num < 0:
        return None
    if fd.connected is not None:
        return bool(fd.connected)
    if fd.type in _IP_TYPES:
        return fd.sip is not None and fd.dip is not None and bool(fd.sport) and bool(fd.dport)
    return fd.type == "unix" and bool(fd.name) and event.type in ("connect", "accept", "accept4")


def _sockfamily(event: Any, _arg: Any) -> str | None:
    fd = event.fd
    if fd is None:
        return None
    return "ip" if fd.type in _IP_TYPES else "unix" if fd.type == "unix" else None


def _types(event: Any, arg: Any) -> Any:
    fd = event.fd
    if fd is None:
        return None
    if arg is None:
        return [fd.type]
    try:
        index = int(arg)
    except (TypeError, ValueError):
        return None
    return [fd.type] if index == 0 else None


def _in_container(event: Any, _arg: Any) -> str | None:
    fd = event.fd
    cid = event.proc.container_id if event.proc is not None else None
    return None if fd is None or not fd.name or cid is None else f"{cid}:{fd.name}"


def _in_container_dir(event: Any, _arg: Any) -> str | None:
    directory = _directory(event, None)
    cid = event.proc.container_id if event.proc is not None else None
    return None if directory is None or cid is None else f"{cid}:{directory}"


# -- fs.path.* --------------------------------------------------------------------------------------------------
_PATH_ARGS = ("name", "path", "pathname", "filename")
_SOURCE_ARGS = ("oldpath", "target")
_TARGET_ARGS = ("newpath", "linkpath")


def _path_arg(names: tuple[str, ...], *, raw: bool) -> Any:
    """The first of ``names`` the event has: as given (``raw``) or made absolute against its directory fd or the
    cwd (``engine.fields.evt.resolved_path``)."""
    def extract(event: Any, _arg: Any) -> Any:
        if not raw:
            return find_path(event, names)
        for name in names:
            value = raw_arg(event, name)
            if isinstance(value, str) and value:
                return value
        return None
    return extract


def _f(name: str, ftype: FieldType, desc: str, extract: Any, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=ftype, desc=desc, extract=extract, **kw)


def _attr(name: str, *, zero_missing: bool = False) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        fd = event.fd
        if fd is None:
            return None
        value = getattr(fd, name)
        return None if zero_missing and not value else value
    return extract


_FD = (
    _f("fd.num", T.FD, "file descriptor number.", _attr("num")),
    _f("fd.type", T.STRING, "type: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, "
       "inotify, timerfd, netlink, bpf, memfd...", _attr("type")),
    _f("fd.typechar", T.STRING, "type as one character (f file, d directory, 4 ipv4, 6 ipv6, u unix, "
       "p pipe...).", lambda e, a: None if e.fd is None else TYPECHARS.get(e.fd.type, "o")),
    _f("fd.name", T.FSPATH, "full name: a path for files, cip:cport->sip:sport for connected sockets.", _name),
    _f("fd.nameraw", T.FSPATH, "the name as the syscall gave it, before resolution.",
       lambda e, a: None if e.fd is None else (e.fd.nameraw or e.fd.name or None)),
    _f("fd.directory", T.FSPATH, "directory of a file (the directory itself for directory fds).", _directory),
    _f("fd.filename", T.FSPATH, "file name without the directory.", _filename),
    _f("fd.ip", T.IPADDR, "either end's address (matches when the client or the server does).", _both(0),
       is_list=True, match_any=True),
    _f("fd.cip", T.IPADDR, "client address.", _end_ip(_client)),
    _f("fd.sip", T.IPADDR, "server address.", _end_ip(_server)),
    _f("fd.lip", T.IPADDR, "local address.", _end_ip(_local)),
    _f("fd.rip", T.IPADDR, "remote address.", _end_ip(_remote)),
    _f("fd.port", T.PORT, "either end's port.", _both(1), is_list=True, match_any=True),
    _f("fd.cport", T.PORT, "client port.", _end_port(_client)),
    _f("fd.sport", T.PORT, "server port.", _end_port(_server)),
    _f("fd.lport", T.PORT, "local port.", _end_port(_local)),
    _f("fd.rport", T.PORT, "remote port.", _end_port(_remote)),
    _f("fd.l4proto", T.STRING, "layer 4 protocol: tcp, udp, icmp or raw.", _attr("l4proto")),
    _f("fd.sockfamily", T.STRING, "socket family: ip or unix.", _sockfamily),
    _f("fd.is_server", T.BOOL, "true when the process is the server end of the connection.", _attr("is_server")),
    _f("fd.connected", T.BOOL, "true when the socket is connected.", _connected),
    _f("fd.name_changed", T.BOOL, "true when the event changed the fd's name.", _attr("name_changed")),
    _f("fd.net", T.IPNET, "either end's address, compared against networks.", _both(0), is_list=True, match_any=True),
    _f("fd.cnet", T.IPNET, "client address, compared against networks.", _end_ip(_client)),
    _f("fd.snet", T.IPNET, "server address, compared against networks.", _end_ip(_server)),
    _f("fd.lnet", T.IPNET, "local address, compared against networks.", _end_ip(_local)),
    _f("fd.rnet", T.IPNET, "remote address, compared against networks.", _end_ip(_remote)),
    _f("fd.proto", T.STRING, "either end's protocol name (from the port).", _both_proto, is_list=True, match_any=True),
    _f("fd.cproto", T.STRING, "client protocol name (from the port).", _end_proto(_client)),
    _f("fd.sproto", T.STRING, "server protocol name (from the port).", _end_proto(_server)),
    _f("fd.lproto", T.STRING, "local protocol name (from the port).", _end_proto(_local)),
    _f("fd.rproto", T.STRING, "remote protocol name (from the port).", _end_proto(_remote)),
    _f("fd.cip.name", T.STRING, "domain name of the client address (not resolved: missing).", lambda e, a: None),
    _f("fd.sip.name", T.STRING, "domain name of the server address (not resolved: missing).", lambda e, a: None),
    _f("fd.lip.name", T.STRING, "domain name of the local address (not resolved: missing).", lambda e, a: None),
    _f("fd.rip.name", T.STRING, "domain name of the remote address (not resolved: missing).", lambda e, a: None),
    _f("fd.types", T.STRING, "types of the process's fds (only the event's own fd is known).", _types,
       is_list=True, arg=ArgMode.OPTIONAL, arg_kind=ArgKind.INDEX),
    _f("fd.containername", T.STRING, "container id and fd name (id:name).", _in_container),
    _f("fd.containerdirectory", T.STRING, "container id and directory (id:directory).", _in_container_dir),
    _f("fd.dev", T.UINT32, "device number of the file.", _attr("dev", zero_missing=True)),
    _f("fd.dev.major", T.UINT32, "major device number.",
       lambda e, a: None if e.fd is None or not e.fd.dev else os.major(e.fd.dev)),
    _f("fd.dev.minor", T.UINT32, "minor device number.",
       lambda e, a: None if e.fd is None or not e.fd.dev else os.minor(e.fd.dev)),
    _f("fd.ino", T.UINT64, "inode number of the file.", _attr("ino", zero_missing=True)),
)
_FS = (
    _f("fs.path.name", T.FSPATH, "path a file syscall acts on, made absolute (against its directory fd or the cwd).", _path_arg(_PATH_ARGS, raw=False)),
    _f("fs.path.nameraw", T.FSPATH, "path a file syscall acts on, as given.", _path_arg(_PATH_ARGS, raw=True)),
    _f("fs.path.source", T.FSPATH, "source path of rename/link/symlink, made absolute.",
       _path_arg(_SOURCE_ARGS, raw=False)),
    _f("fs.path.sourceraw", T.FSPATH, "source path, as given.", _path_arg(_SOURCE_ARGS, raw=True)),
    _f("fs.path.target", T.FSPATH, "target path of rename/link/symlink, made absolute.",
       _path_arg(_TARGET_ARGS, raw=False)),
    _f("fs.path.targetraw", T.FSPATH, "target path, as given.", _path_arg(_TARGET_ARGS, raw=True)),
)

FIELD_CLASSES = (
    FieldClass(name="fd", sources=("syscall",), fields=_FD, desc="The file descriptor the event acts on."),
    FieldClass(name="fs.path", sources=("syscall",), fields=_FS, desc="Paths named by file syscalls."),
)
