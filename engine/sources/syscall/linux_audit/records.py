"""Parsing Linux audit record text and grouping records into one syscall's worth (by event serial).

Owns: splitting ``audit(<sec>.<ms>:<serial>): key=value ...`` into fields, the audit encodings of untrusted
strings (quoted, hex, ``(null)``), EXECVE argument reassembly (``aN``, ``aN_len``/``aN[i]`` chunks), sockaddr
decoding (``saddr`` hex → family, address, port), the OPENAT2 record's ``struct open_how`` (``oflag``, ``mode``,
``resolve``) and the ``Assembler`` that collects the SYSCALL, EXECVE, PATH, CWD, SOCKADDR, OPENAT2 and PROCTITLE
records of one event until its EOE record.

Must not: talk to the kernel, read ``/proc`` or build ``SyscallEvent`` objects (``linux_audit.decode`` does).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

AUDIT_SYSCALL, AUDIT_PATH, AUDIT_SOCKADDR, AUDIT_CWD, AUDIT_EXECVE = 1300, 1302, 1306, 1307, 1309
AUDIT_EOE, AUDIT_PROCTITLE, AUDIT_OPENAT2 = 1320, 1327, 1337
RECORD_NAMES = {AUDIT_SYSCALL: "SYSCALL", AUDIT_PATH: "PATH", AUDIT_SOCKADDR: "SOCKADDR", AUDIT_CWD: "CWD",
                AUDIT_EXECVE: "EXECVE", AUDIT_PROCTITLE: "PROCTITLE", AUDIT_EOE: "EOE", AUDIT_OPENAT2: "OPENAT2"}

_HEADER = re.compile(rb"audit\((\d+)\.(\d+):(\d+)\):")
_FIELD = re.compile(rb'([\w\[\]]+)=("[^"]*"|\S*)')
_HEX = re.compile(rb"[0-9A-F]+")
GROUPED = frozenset({1300, 1302, 1306, 1307, 1309, 1320, 1327, 1337})


class RecordError(ValueError):
    """A record whose text does not follow the audit format."""


@dataclass(slots=True)
class Record:
    type: int
    ts_ns: int
    serial: int
    fields: dict[bytes, bytes]  # raw keys and values: quoted ones keep their quotes (so encodings stay distinguishable)


def parse_record(msg_type: int, text: bytes) -> Record:
    """Split one record's text into its header (time, serial) and ``key=value`` fields (keys and values as bytes)."""
    end = text.find(b"): ")
    if end < 0 and text.endswith(b"):"):
        end = len(text) - 2  # a record with no fields (EOE) may lose the trailing space
    head = _HEADER.match(text, 0, end + 2) if end >= 0 else None
    if head is None:
        raise RecordError(f"record type {msg_type}: no audit(...) header in {text[:60]!r}")
    sec, msec, serial = head.groups()
    body = text[end + 3:]
    # The kernel hex-encodes every string holding a space, a quote or a control character, so the fields of
    # the syscall records split on spaces; other records (user-space messages may quote spaces) take the regex.
    if msg_type in GROUPED:
        try:
            fields = dict(item.split(b"=", 1) for item in body.split())
        except ValueError:  # an item without "=": keep the well-formed ones
            fields = dict(item.split(b"=", 1) for item in body.split() if b"=" in item)
    else:
        fields = dict(_FIELD.findall(body))
    return Record(msg_type, int(sec) * 1_000_000_000 + int(msec) * 1_000_000, int(serial), fields)


def untrusted(raw: bytes | None) -> str | None:
    """Decode an audit string field: ``"text"``, hex when it had special characters, ``(null)`` → None."""
    if raw is None or raw in (b"(null)", b"(none)", b"?"):
        return None
    if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
        return raw[1:-1].decode("utf-8", "surrogateescape")
    if _HEX.fullmatch(raw) and len(raw) % 2 == 0:
        return bytes.fromhex(raw.decode()).decode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")


def number(raw: bytes | None, *, base: int = 10, default: int | None = None) -> int | None:
    if raw is None:
        return default
    try:
        return int(raw, base)
    except ValueError:
        return default


def _c_number(raw: bytes | None) -> int:
    """A number as C's ``%llo``/``%llx`` with a ``0``/``0x`` prefix print it (``0100``, ``0x8``)."""
    if not raw:
        return 0
    text = raw.decode("ascii", "replace")
    try:
        if text.lower().startswith("0x"):
            return int(text, 16)
        return int(text, 8) if text.startswith("0") else int(text)
    except ValueError:
        return 0


def open_how(record: Record) -> tuple[int, int, int]:
    """openat2's ``struct open_how`` from its OPENAT2 record: (flags, mode, resolve)."""
    f = record.fields
    return _c_number(f.get(b"oflag")), _c_number(f.get(b"mode")), _c_number(f.get(b"resolve"))


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def execve_args(record: Record) -> list[str]:
    """argv from an EXECVE record, joining the chunks of long arguments."""
    argc = number(record.fields.get(b"argc"), default=0) or 0
    out: list[str] = []
    for i in range(argc):
        whole = record.fields.get(b"a%d" % i)
        if whole is not None:
            out.append(untrusted(whole) or "")
            continue
        chunks: list[str] = []
        j = 0
        while (part := record.fields.get(b"a%d[%d]" % (i, j))) is not None:
            chunks.append(untrusted(part) or "")
            j += 1
        out.append("".join(chunks))
    return out


@dataclass(frozen=True, slots=True)
class SockAddr:
    family: str  # ipv4|ipv6|unix|netlink|other
    ip: str | None = None
    port: int | None = None
    path: str | None = None


def sockaddr(hex_text: bytes | None) -> SockAddr | None:
    """Decode ``saddr`` (hex of the struct sockaddr the syscall passed)."""
    if not hex_text:
        return None
    try:
        data = bytes.fromhex(hex_text.decode())
    except ValueError:
        return None
    if len(data) < 2:
        return None
    family = struct.unpack_from("=H", data)[0]
    if family == 2 and len(data) >= 8:
        return SockAddr("ipv4", str(ipaddress.IPv4Address(data[4:8])), struct.unpack_from("!H", data, 2)[0])
    if family == 10 and len(data) >= 24:
        return SockAddr("ipv6", str(ipaddress.IPv6Address(data[8:24])), struct.unpack_from("!H", data, 2)[0])
    if family == 1:
        path = data[2:].split(b"\0", 1)[0] if data[2:3] != b"\0" else b"@" + data[3:].rstrip(b"\0")
        return SockAddr("unix", path=path.decode("utf-8", "surrogateescape"))
    if family == 16:
        return SockAddr("netlink")
    return SockAddr("other")


@dataclass(slots=True)
class Group:
    """The records of one audited syscall."""

    serial: int
    ts_ns: int
    syscall: Record | None = None
    execve: Record | None = None
    cwd: str | None = None
    paths: list[Record] = field(default_factory=list)
    sockaddr: SockAddr | None = None
    proctitle: list[str] | None = None
    open_how: tuple[int, int, int] | None = None  # openat2's (flags, mode, resolve), from its OPENAT2 record


class Assembler:
    """Collect records per serial; a group is complete at its EOE record (or when evicted as stale)."""

    def __init__(self, *, max_open: int = 4096) -> None:
        self._open: OrderedDict[int, Group] = OrderedDict()
        self.max_open = max_open
        self.evicted = 0

    def add(self, record: Record) -> Group | None:
        """Add one record; returns the finished group when ``record`` completes one."""
        if record.type not in GROUPED:
            return None  # single-record events (config changes, user messages): never part of a syscall
        group = self._open.get(record.serial)
        if group is None:
            if record.type == AUDIT_EOE:
                return None
            group = Group(record.serial, record.ts_ns)
            self._open[record.serial] = group
            if len(self._open) > self.max_open:
                self._open.popitem(last=False)
                self.evicted += 1
        kind = record.type
        if kind == AUDIT_EOE:
            return self._open.pop(record.serial)
        if kind == AUDIT_SYSCALL:
            group.syscall = record
        elif kind == AUDIT_PATH:
            group.paths.append(record)
        elif kind == AUDIT_CWD:
            group.cwd = untrusted(record.fields.get(b"cwd"))
        elif kind == AUDIT_EXECVE:
            group.execve = record
        elif kind == AUDIT_SOCKADDR:
            group.sockaddr = sockaddr(record.fields.get(b"saddr"))
        elif kind == AUDIT_OPENAT2:
            group.open_how = open_how(record)
        elif kind == AUDIT_PROCTITLE:
            title = untrusted(record.fields.get(b"proctitle"))
            group.proctitle = title.split("\0") if title is not None else None
        return None

    def pending(self) -> int:
        return len(self._open)
