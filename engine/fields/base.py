"""Field specifications: the one table format that the compiler, ``rules describe`` and the docs all read.

Owns: ``FieldType``, ``ArgMode``/``ArgKind``, ``FieldSpec`` and ``FieldClass``. It holds no fields itself; each
field-class module in this package declares a table of ``FieldSpec`` and exports ``FIELD_CLASSES``.

Extraction contract (every extractor in every table follows it):
    ``spec.extract(event, arg) -> value | None``
    * ``None`` means the value is missing (every comparison on it is false; ``not`` flips that).
    * list fields (``is_list=True``) return a list/tuple; an empty one also means missing.
    * numbers are Python ints, bools are bools, addresses are ``ipaddress`` objects or strings as the type says;
      k8s audit (``ka.*``, ``jevt.*``) values are always strings.
    * ``arg`` is ``None`` for fields without an argument, else the parsed argument (int for INDEX, str for KEY).
    * extractors must not raise on odd events: a value that cannot be read is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class FieldType(str, Enum):
    """Value types, after Falco's (libsinsp ``PT_*``). Operators are checked against these at load time."""

    STRING = "string"  # PT_CHARBUF
    FSPATH = "fspath"  # PT_FSPATH / PT_FSRELPATH: a string that is a path
    BYTEBUF = "bytebuf"  # PT_BYTEBUF: raw bytes (bcontains / bstartswith)
    INT64 = "int64"
    UINT64 = "uint64"
    UINT32 = "uint32"
    UINT16 = "uint16"
    PORT = "port"  # PT_PORT
    PID = "pid"  # PT_PID
    FD = "fd"  # PT_FD
    MODE = "mode"  # PT_MODE
    FLAGS = "flags"  # PT_FLAGS32 etc.: rendered as names ("O_RDONLY|O_CLOEXEC"); compared as string
    SYSCALLID = "syscallid"
    SIGTYPE = "sigtype"
    BOOL = "bool"  # PT_BOOL
    IPADDR = "ipaddr"  # PT_IPADDR
    IPNET = "ipnet"  # PT_IPNET
    RELTIME = "reltime"  # nanoseconds
    ABSTIME = "abstime"  # nanoseconds since the epoch
    DOUBLE = "double"

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC

    @property
    def is_stringlike(self) -> bool:
        return self in (FieldType.STRING, FieldType.FSPATH, FieldType.FLAGS, FieldType.SYSCALLID,
                        FieldType.SIGTYPE)


_NUMERIC = frozenset({FieldType.INT64, FieldType.UINT64, FieldType.UINT32, FieldType.UINT16, FieldType.PORT,
                      FieldType.PID, FieldType.FD, FieldType.MODE, FieldType.RELTIME, FieldType.ABSTIME,
                      FieldType.DOUBLE})


class ArgMode(str, Enum):
    NONE = "none"  # the field takes no argument
    OPTIONAL = "optional"  # e.g. proc.aname and proc.aname[2]
    REQUIRED = "required"  # e.g. ka.uri.param[name], jevt.value[/path]


class ArgKind(str, Enum):
    INDEX = "index"  # [N], a non-negative integer
    KEY = "key"  # [text], any text up to the closing bracket
    INDEX_OR_KEY = "index_or_key"  # evt.arg[0] or evt.arg[flags]


Extractor = Callable[..., object]
"""``extract(event, arg) -> value``: each field class takes the event model of its own source (so the event's
type is not one type here) and the field's argument (``None`` when it has none)."""


def _missing(event: Any, arg: Any) -> None:
    return None


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: FieldType
    desc: str = ""
    is_list: bool = False
    arg: ArgMode = ArgMode.NONE
    arg_kind: ArgKind = ArgKind.KEY
    # Falco also accepts the argument after a dot for some fields: evt.arg.flags, k8s.pod.label.app.
    dotted_arg: bool = False
    # A list field whose values are alternatives, not a collection: any ancestor (proc.aname without index),
    # either socket end (fd.ip, fd.port). ``in`` on it matches when any value is in the set, as Falco's does;
    # on an ordinary list field (ka.user.groups) ``in`` needs every value in the set.
    match_any: bool = False
    extract: Extractor = _missing
    # Only usable in outputs / for display (Falco's EPF_NO_FILTER? not here: every field filters). Reserved.
    deprecated: bool = False


@dataclass(frozen=True, slots=True)
class FieldClass:
    """A named group of fields, as Falco lists them ("k8saudit", "process", "fd", ...)."""

    name: str
    sources: tuple[str, ...]  # event sources whose events these fields read: "k8s_audit", "syscall"
    fields: tuple[FieldSpec, ...]
    desc: str = ""
    # The Falco plugin whose fields this class provides, and the version it is compatible with;
    # rules' required_plugin_versions are satisfied from these.
    plugin: str | None = None
    plugin_version: str | None = None
    plugin_aliases: tuple[str, ...] = ()
    by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for spec in self.fields:
            self.by_name[spec.name] = spec
