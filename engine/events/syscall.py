"""The normalized syscall event model every syscall backend produces and every ``syscall`` field reads.

Owns: ``SyscallEvent``, ``ProcessInfo``, ``FdInfo``, ``ContainerInfo`` (``slots=True`` dataclasses) and their
JSON-lines record/replay format (``SyscallEvent.to_json()`` / ``SyscallEvent.from_json()``).

Must not: talk to the kernel, read ``/proc``, resolve users or containers, or know any rule or field table.
Backends fill these objects; ``engine.fields`` extractors only read their attributes.

Conventions
    * ``dir`` is ``"<"`` for an exit event (the usual case: the syscall returned) and ``">"`` for an enter event,
      as Falco prints ``evt.dir``.
    * ``ts`` and ``start_ts`` are nanoseconds since the epoch; ``res`` is the return value (negative errno on
      failure) or ``None`` when the event has no return value (enter events, ``procexit``...).
    * ``args`` maps Falco's argument names for the event type (``engine.fields.evttypes``) to plain values:
      ints (flags and modes as raw bit masks), strings (paths, names), ``bytes`` (buffers) or lists.
    * a process outside any container has ``container_id == "host"`` and the event's ``container`` is ``None``.
    * ``ProcessInfo.parent`` is the parent chain (``None`` past what is known).

Record format, version 1 (one self-contained JSON object per line, UTF-8; ``v`` is the format version; the
recording stream, version 2, is ``engine.sources.syscall.record.stream``'s and refers to processes by id instead)::

    {"v": 1, "type": "openat", "dir": "<", "ts": 1700000000123456789, "num": 17, "tid": 42, "pid": 42,
     "res": 3, "args": {"fd": 3, "name": "/etc/shadow", "flags": 1},
     "procs": [{"pid": 42, "name": "cat", ...}, {"pid": 1, "name": "bash", ...}],
     "fd": {"num": 3, "type": "file", "name": "/etc/shadow", ...},
     "container": {"id": "0123456789ab", "image": "nginx", ...}}

``procs`` is the event's process followed by its ancestors, each the parent of the one before (the chain is
stored once, without nesting; a process's ``parent`` is the next entry). ``fd`` and ``container`` are ``null``
or absent when the event has none; ``paths`` (absent when empty) maps a path argument written relative to the
absolute path the kernel resolved it to. Process, fd and container objects carry the attribute names of the classes
below; absent keys take the defaults. ``bytes`` values inside ``args`` are written as ``{"$b64": "..."}``.
Unknown keys are ignored so newer recordings replay on older readers.
"""

from __future__ import annotations

import base64
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

import orjson

FORMAT_VERSION = 1  # a self-contained event line; version 2 is the recording stream (``engine.sources.syscall.record.stream``)
READABLE_VERSIONS = (1, 2)
HOST_CONTAINER_ID = "host"


@dataclass(slots=True)
class ProcessInfo:
    """One thread/process as Falco's thread table knows it."""

    pid: int
    tid: int = 0
    ppid: int = 0
    vpid: int = 0
    name: str = ""  # Falco's proc.name: the comm (task name, up to 16 chars as the kernel keeps it)
    exe: str = ""  # argv[0] as given at exec
    exepath: str = ""  # full path of the executable
    args: list[str] = field(default_factory=list)  # argv[1:]
    cmdline: str = ""  # "name arg1 arg2" as Falco prints proc.cmdline
    env: list[str] = field(default_factory=list)  # "KEY=value" entries
    cwd: str = ""
    uid: int | None = None
    gid: int | None = None
    euid: int | None = None
    loginuid: int | None = None
    tty: int = 0
    sid: int = 0
    pgid: int = 0
    start_ts: int = 0
    cap_effective: int = 0
    cap_permitted: int = 0
    exe_from_memfd: bool = False
    exe_upper_layer: bool = False
    container_id: str = HOST_CONTAINER_ID
    parent: ProcessInfo | None = None
    # Additive attributes (after the shared contract's list).
    vtid: int = 0
    vpgid: int = 0
    egid: int | None = None
    cap_inheritable: int = 0
    exe_writable: bool = False
    exe_ino: int = 0
    user_name: str | None = None  # resolved by the backend when it can (container users); else looked up
    group_name: str | None = None
    loginuser_name: str | None = None
    pidns_init_start_ts: int = 0
    exe_lower_layer: bool = False
    exe_ino_ctime: int = 0  # ns since the epoch
    exe_ino_mtime: int = 0


@dataclass(slots=True)
class FdInfo:
    """The file descriptor an event acts on (file, socket, pipe...)."""

    num: int = -1
    type: str = "file"  # file|directory|ipv4|ipv6|unix|pipe|event|signalfd|eventpoll|inotify|timerfd|netlink|bpf|memfd|...
    name: str = ""  # path, or "cip:cport->sip:sport" for connected sockets
    directory: str = ""
    filename: str = ""
    # Socket tuple as libsinsp keeps it: s = the connection's source (the client), d = its destination (the
    # server), whichever end this process is. Addresses are text ("10.0.0.1", "::1").
    sip: str | None = None
    sport: int | None = None
    dip: str | None = None
    dport: int | None = None
    l4proto: str | None = None  # tcp|udp|icmp|raw
    is_server: bool | None = None  # True when this process is the server end (it accepted the connection)
    open_flags: int = 0
    # Additive attributes.
    nameraw: str | None = None  # the name as the syscall passed it (before resolution)
    dev: int = 0
    ino: int = 0
    connected: bool | None = None  # for sockets: the connection is established
    name_changed: bool = False  # the event changed the fd's name (connect on a UDP socket, ...)


@dataclass(slots=True)
class ContainerInfo:
    """What the container plugin knows about the container a process runs in (and its pod)."""

    id: str  # 12-character short id
    name: str | None = None
    image: str | None = None
    image_repository: str | None = None
    image_tag: str | None = None
    privileged: bool | None = None
    runtime: str | None = None  # docker|containerd|cri-o|podman|...
    pod_name: str | None = None
    pod_namespace: str | None = None
    pod_uid: str | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_ip: str | None = None
    # Additive attributes.
    full_id: str | None = None
    image_id: str | None = None
    image_digest: str | None = None
    start_ts: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    host_pid: bool | None = None
    host_network: bool | None = None
    host_ipc: bool | None = None
    ip: str | None = None
    user: str | None = None
    healthcheck: list[str] | None = None  # argv of the image healthcheck, when defined
    liveness_probe: list[str] | None = None
    readiness_probe: list[str] | None = None
    pod_sandbox_id: str | None = None
    mounts: list[dict[str, object]] = field(default_factory=list)  # {"source","dest","mode","rdwr","propagation"}


@dataclass(slots=True)
class SyscallEvent:
    """One normalized syscall (or Falco pseudo-) event."""

    source: ClassVar[str] = "syscall"

    type: str
    dir: str = "<"
    ts: int = 0
    tid: int = 0
    pid: int = 0
    res: int | None = None
    args: dict[str, object] = field(default_factory=dict)
    proc: ProcessInfo | None = None
    fd: FdInfo | None = None
    container: ContainerInfo | None = None
    num: int = 0  # event number within the capture, from 1 (upstream rules skip evt.num = 0 as a non-event)
    cpu: int = 0
    # Path arguments as the kernel resolved them (argument name -> absolute path) where ``args`` holds the path
    # as the caller wrote it and it was relative (to the cwd or to a directory fd); None when there is none.
    paths: dict[str, str] | None = None
    # Per-event extraction cache, made on first use: most events never need one, and a dict per event decoded
    # cost about 0.4 us of the event's construction.
    _cache: dict[object, object] | None = field(default=None, compare=False, repr=False)

    @property
    def evt_type(self) -> str:
        return self.type

    @property
    def cache(self) -> dict[object, object]:
        """Values extractors keep for this event (empty until one stores something)."""
        got = self._cache
        if got is None:
            got = self._cache = {}
        return got

    # -- record / replay ------------------------------------------------------------------------------------

    def to_dict(self, *, procs: bool = True) -> dict[str, object]:
        """The record-format object for this event (see the module docstring); ``procs=False`` leaves the process
        chain out (the version-2 stream, ``engine.sources.syscall.record.stream``, refers to it instead)."""
        out: dict[str, object] = {"v": FORMAT_VERSION, "type": self.type, "dir": self.dir, "ts": self.ts,
                                  "num": self.num, "cpu": self.cpu, "tid": self.tid, "pid": self.pid,
                                  "res": self.res, "args": {k: _encode_value(v) for k, v in self.args.items()}}
        if procs:
            chain: list[dict[str, Any]] = []
            proc = self.proc
            seen: set[int] = set()
            while proc is not None and id(proc) not in seen:
                seen.add(id(proc))
                chain.append(_non_default(proc))
                proc = proc.parent
            out["procs"] = chain
        if self.paths:
            out["paths"] = dict(self.paths)
        out["fd"] = _non_default(self.fd) if self.fd is not None else None
        out["container"] = _non_default(self.container) if self.container is not None else None
        return out

    def to_json(self) -> bytes:
        """One record line (without the trailing newline)."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: object, *, proc: ProcessInfo | None = None) -> SyscallEvent:
        """An event from its record object. A version-2 stream's event object names its process by id; the
        stream decoder resolves it and passes ``proc``."""
        if not isinstance(obj, dict):
            raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
        version = obj.get("v", FORMAT_VERSION)
        if version not in READABLE_VERSIONS:
            raise ValueError(f"unsupported record format version {version!r} (this reader knows "
                             f"{', '.join(map(str, READABLE_VERSIONS))})")
        etype = obj.get("type")
        if not isinstance(etype, str) or not etype:
            raise ValueError("missing event 'type'")
        direction = obj.get("dir", "<")
        if direction not in ("<", ">"):
            raise ValueError(f"'dir' must be '<' or '>', not {direction!r}")
        args = obj.get("args") or {}
        if not isinstance(args, dict):
            raise TypeError("'args' must be an object")
        if version == FORMAT_VERSION:
            procs = obj.get("procs") or []
            if not isinstance(procs, list):
                raise TypeError("'procs' must be a list")
            for raw in reversed(procs):  # build from the oldest ancestor down
                built = _build(ProcessInfo, raw, "procs[]")
                built.parent = proc
                proc = built
        paths = obj.get("paths")
        if paths is not None and not (type(paths) is dict and all(type(v) is str for v in paths.values())):
            raise TypeError("'paths' must be an object of strings")
        fd = _build(FdInfo, obj["fd"], "fd") if obj.get("fd") is not None else None
        container = (_build(ContainerInfo, obj["container"], "container")
                     if obj.get("container") is not None else None)
        return cls(type=etype, dir=direction, ts=_int(obj.get("ts", 0), "ts"), tid=_int(obj.get("tid", 0), "tid"),
                   pid=_int(obj.get("pid", 0), "pid"),
                   res=None if obj.get("res") is None else _int(obj["res"], "res"),
                   args={str(k): _decode_value(v) for k, v in args.items()}, proc=proc, fd=fd,
                   container=container, num=_int(obj.get("num", 0), "num"), cpu=_int(obj.get("cpu", 0), "cpu"),
                   paths=paths or None)

    @classmethod
    def from_json(cls, line: bytes | str) -> SyscallEvent:
        """Parse one record line; raises ``ValueError``/``TypeError`` naming what is wrong."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        return cls.from_dict(obj)


_PY_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "str": (str,), "bool": (bool,), "list": (list,),
                                          "dict": (dict,), "Any": (object,)}


class _Schema:
    """Per-class tables for the record format: attribute order, defaults, accepted JSON types."""

    def __init__(self, klass: type) -> None:
        self.names: list[str] = []
        self.defaults: dict[str, Any] = {}
        self.types: dict[str, tuple[tuple[type, ...], bool]] = {}
        for f in fields(klass):
            if f.name == "parent":
                continue
            self.names.append(f.name)
            if f.default is not MISSING:
                self.defaults[f.name] = f.default
            elif f.default_factory is not MISSING:
                self.defaults[f.name] = f.default_factory()
            parts = [p.strip().split("[")[0] for p in str(f.type).split("|")]
            self.types[f.name] = (tuple(t for p in parts if p != "None" for t in _PY_TYPES.get(p, (object,))),
                                  "None" in parts)


_SCHEMAS: dict[type, _Schema] = {}


def _schema(klass: type) -> _Schema:
    got = _SCHEMAS.get(klass)
    if got is None:
        got = _SCHEMAS[klass] = _Schema(klass)
    return got


def _non_default(obj: Any) -> dict[str, Any]:
    schema = _schema(type(obj))
    defaults = schema.defaults
    out: dict[str, Any] = {}
    for name in schema.names:
        value = getattr(obj, name)
        if name in defaults:
            default = defaults[name]
            if default == value and type(default) is type(value):
                continue
        out[name] = value
    return out


def _build(klass: type, raw: Any, where: str) -> Any:
    """An instance from a record object: unknown keys are ignored, known ones must have the attribute's type."""
    if not isinstance(raw, dict):
        raise TypeError(f"{where} must be an object, got {type(raw).__name__}")
    types = _schema(klass).types
    kwargs = {}
    for key, value in raw.items():
        expected = types.get(key)
        if expected is None:
            continue
        accepted, nullable = expected
        if value is None:
            if not nullable:
                raise TypeError(f"{where}.{key} must not be null")
        elif type(value) not in accepted and object not in accepted:
            names = "/".join(t.__name__ for t in accepted)
            raise TypeError(f"{where}.{key} must be {names}, got {value!r}")
        kwargs[key] = value
    try:
        return klass(**kwargs)
    except TypeError as exc:
        raise TypeError(f"{where}: {exc}") from None


record_fields = _non_default  # a process/fd/container object's record keys (defaults left out)
build_record_object = _build  # an instance from a record object, types checked


def _int(value: Any, name: str) -> int:
    if type(value) is not int:
        raise TypeError(f"{name!r} must be an integer, got {value!r}")
    return value


def _encode_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    return value


def _decode_value(value: Any) -> Any:
    if type(value) is dict and len(value) == 1 and "$b64" in value:
        return base64.b64decode(value["$b64"])
    if type(value) is list:
        return [_decode_value(v) for v in value]
    return value
