"""The Linux audit netlink protocol (NETLINK_AUDIT) in pure Python: status, audit pid, rules, record reading.

Owns: message framing (``nlmsghdr``), ``AUDIT_GET``/``AUDIT_SET`` on ``struct audit_status``, building
``struct audit_rule_data`` for exit,always rules keyed by our key, listing/deleting rules by key, and receiving
kernel records. Kernel event records arrive one per datagram and their ``nlmsg_len`` omits the 16-byte header,
so a record's text is everything after the header.

Must not: decide which syscalls to watch, keep saved state on disk, or decode record text
(``engine.sources.syscall.linux_audit.backend`` and ``engine.sources.syscall.linux_audit.decode`` do).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
AUDIT_GET, AUDIT_SET, AUDIT_ADD_RULE, AUDIT_DEL_RULE, AUDIT_LIST_RULES = 1000, 1001, 1011, 1012, 1013
STATUS_ENABLED, STATUS_PID, STATUS_BACKLOG_LIMIT, STATUS_BACKLOG_WAIT_TIME = 0x1, 0x4, 0x10, 0x20
AUDIT_FILTER_EXIT, AUDIT_FILTER_EXCLUDE, AUDIT_ALWAYS = 0x04, 0x05, 2
AUDIT_PID_FIELD, AUDIT_ARCH_FIELD, AUDIT_MSGTYPE_FIELD, AUDIT_FILTERKEY = 0, 11, 12, 210
AUDIT_NOT_EQUAL, AUDIT_EQUAL = 0x30000000, 0x40000000
AUDIT_BITMASK_SIZE, AUDIT_MAX_FIELDS = 64, 64
SOL_NETLINK, NETLINK_ADD_MEMBERSHIP = 270, 1
SO_RCVBUFFORCE = 33

_HDR = struct.Struct("=IHHII")
_STATUS = struct.Struct("=11I")
_RULE_HEAD = struct.Struct(f"=3I{AUDIT_BITMASK_SIZE}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}I{AUDIT_MAX_FIELDS}II")


class AuditNetlinkError(OSError):
    """A netlink request the kernel refused; ``errno`` is the kernel's answer."""


@dataclass(frozen=True, slots=True)
class AuditStatus:
    enabled: int
    failure: int
    pid: int
    rate_limit: int
    backlog_limit: int
    lost: int
    backlog: int
    backlog_wait_time: int = 0  # jiffies a task waits when the backlog is full (0: the kernel drops instead)


@dataclass(frozen=True, slots=True)
class AuditRule:
    """One exit,always syscall rule as we add it (and as we find ours when listing)."""

    syscalls: frozenset[int]
    arch: int | None
    key: str
    exclude_pid: int | None = None  # ``-F pid!=N``: the engine's own process (its /proc reads are no events)


def encode_rule(rule: AuditRule) -> bytes:
    """``struct audit_rule_data`` for ``-a exit,always [-F arch=..] [-F pid!=..] -S ... -k key``."""
    mask = [0] * AUDIT_BITMASK_SIZE
    for number in rule.syscalls:
        mask[number // 32] |= 1 << (number % 32)
    fields: list[int] = []
    values: list[int] = []
    ops: list[int] = []
    if rule.arch is not None:
        fields.append(AUDIT_ARCH_FIELD)
        values.append(rule.arch)
        ops.append(AUDIT_EQUAL)
    if rule.exclude_pid is not None:
        fields.append(AUDIT_PID_FIELD)
        values.append(rule.exclude_pid)
        ops.append(AUDIT_NOT_EQUAL)
    key = rule.key.encode()
    fields.append(AUDIT_FILTERKEY)
    values.append(len(key))
    ops.append(AUDIT_EQUAL)
    count = len(fields)
    pad = AUDIT_MAX_FIELDS - count
    head = _RULE_HEAD.pack(AUDIT_FILTER_EXIT, AUDIT_ALWAYS, count, *mask, *fields, *([0] * pad), *values,
                           *([0] * pad), *ops, *([0] * pad), len(key))
    return head + key


def encode_exclude_rule(msg_type: int) -> bytes:
    """``struct audit_rule_data`` for ``-a exclude,always -F msgtype=N``: the kernel no longer creates records of
    that type at all (for every audit consumer, so only the owner of the audit pid may add it). The exclude list
    cannot carry a key (the kernel stops at a field it does not filter on), so the exact rule is remembered."""
    pad = AUDIT_MAX_FIELDS - 1
    return _RULE_HEAD.pack(AUDIT_FILTER_EXCLUDE, AUDIT_ALWAYS, 1, *([0xFFFFFFFF] * AUDIT_BITMASK_SIZE),
                           AUDIT_MSGTYPE_FIELD, *([0] * pad), msg_type, *([0] * pad), AUDIT_EQUAL, *([0] * pad), 0)


def decode_rule(data: bytes) -> tuple[AuditRule, bytes]:
    """Parse ``struct audit_rule_data``; returns the rule and the exact bytes to send back to delete it."""
    if len(data) < _RULE_HEAD.size:
        raise ValueError(f"audit rule too short ({len(data)} bytes)")
    values = _RULE_HEAD.unpack_from(data)
    count = values[2]
    mask = values[3:3 + AUDIT_BITMASK_SIZE]
    base = 3 + AUDIT_BITMASK_SIZE
    fields = values[base:base + count]
    vals = values[base + AUDIT_MAX_FIELDS:base + AUDIT_MAX_FIELDS + count]
    ops = values[base + 2 * AUDIT_MAX_FIELDS:base + 2 * AUDIT_MAX_FIELDS + count]
    buflen = values[-1]
    buf = data[_RULE_HEAD.size:_RULE_HEAD.size + buflen]
    syscalls = frozenset(i * 32 + bit for i, word in enumerate(mask) for bit in range(32) if word >> bit & 1)
    arch: int | None = None
    exclude_pid: int | None = None
    key = ""
    offset = 0
    for field_id, value, op in zip(fields, vals, ops, strict=True):
        if field_id == AUDIT_ARCH_FIELD:
            arch = value
        elif field_id == AUDIT_PID_FIELD and op == AUDIT_NOT_EQUAL:
            exclude_pid = value
        elif field_id in (AUDIT_FILTERKEY, 13, 14, 15, 16, 17, 105, 106, 107, 108, 109, 112, 113):
            # String fields (key, paths, LSM labels, exe) take their value's length from ``buf``.
            text = buf[offset:offset + value]
            offset += value
            if field_id == AUDIT_FILTERKEY:
                key = text.decode(errors="replace")
    return AuditRule(syscalls, arch, key, exclude_pid), data[:_RULE_HEAD.size + buflen]


class AuditSocket:
    """One NETLINK_AUDIT socket: requests with acknowledgements, and record reception."""

    def __init__(self, *, groups: int = 0, rcvbuf: int = 0) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
        try:
            if rcvbuf:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
                except PermissionError:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.bind((0, 0))
            if groups:
                self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, groups)
        except OSError:
            self.sock.close()
            raise
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    # -- requests -------------------------------------------------------------------------------------------
    def _send(self, msg_type: int, payload: bytes, flags: int) -> int:
        self._seq += 1
        self.sock.sendto(_HDR.pack(_HDR.size + len(payload), msg_type, flags, self._seq, 0) + payload, (0, 0))
        return self._seq

    def _replies(self, seq: int) -> Iterable[tuple[int, bytes]]:
        """Messages answering request ``seq`` (records that arrive meanwhile on this socket are skipped)."""
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _HDR.size <= len(data):
                length, msg_type, _flags, msg_seq, _pid = _HDR.unpack_from(data, offset)
                if msg_type >= 1100:  # a kernel record (its length omits the header): one per datagram
                    break
                body = data[offset + _HDR.size:offset + length]
                offset += (length + 3) & ~3
                if msg_seq != seq:
                    continue
                yield msg_type, body

    def request(self, msg_type: int, payload: bytes = b"") -> None:
        """Send a request and wait for the kernel's acknowledgement; raise ``AuditNetlinkError`` on refusal."""
        seq = self._send(msg_type, payload, NLM_F_REQUEST | NLM_F_ACK)
        for reply_type, body in self._replies(seq):
            if reply_type == NLMSG_ERROR:
                code = -struct.unpack_from("=i", body)[0]
                if code:
                    raise AuditNetlinkError(code, f"audit request {msg_type}: {os.strerror(code)}")
                return

    def get_status(self) -> AuditStatus:
        seq = self._send(AUDIT_GET, b"", NLM_F_REQUEST)
        for reply_type, body in self._replies(seq):
            if reply_type == NLMSG_ERROR:
                code = -struct.unpack_from("=i", body)[0]
                if code:
                    raise AuditNetlinkError(code, f"AUDIT_GET: {os.strerror(code)}")
                continue
            if reply_type == AUDIT_GET:
                padded = body[:_STATUS.size].ljust(_STATUS.size, b"\0")
                _mask, enabled, failure, pid, rate, backlog_limit, lost, backlog, _v, wait, _ = _STATUS.unpack(padded)
                return AuditStatus(enabled, failure, pid, rate, backlog_limit, lost, backlog, wait)
        raise AuditNetlinkError(errno.EPROTO, "AUDIT_GET: no status reply")

    def set_status(self, *, enabled: int | None = None, pid: int | None = None,
                   backlog_limit: int | None = None, backlog_wait_time: int | None = None) -> None:
        mask = 0
        values = [0] * 11
        if enabled is not None:
            mask |= STATUS_ENABLED
            values[1] = enabled
        if pid is not None:
            mask |= STATUS_PID
            values[3] = pid
        if backlog_limit is not None:
            mask |= STATUS_BACKLOG_LIMIT
            values[5] = backlog_limit
        if backlog_wait_time is not None:
            mask |= STATUS_BACKLOG_WAIT_TIME
            values[9] = backlog_wait_time
        values[0] = mask
        self.request(AUDIT_SET, _STATUS.pack(*values))

    def add_rule(self, rule: AuditRule) -> None:
        self.request(AUDIT_ADD_RULE, encode_rule(rule))

    def exclude_record_type(self, msg_type: int) -> bool:
        """Stop the kernel from making records of ``msg_type``; False when that exact exclusion already exists
        (someone else's: leave it to them)."""
        return self._request_unless(AUDIT_ADD_RULE, encode_exclude_rule(msg_type), errno.EEXIST)

    def include_record_type(self, msg_type: int) -> bool:
        """Remove the exclusion ``exclude_record_type`` added; False when it is not there."""
        return self._request_unless(AUDIT_DEL_RULE, encode_exclude_rule(msg_type), errno.ENOENT)

    def _request_unless(self, msg_type: int, payload: bytes, refusal: int) -> bool:
        """``request``; False instead of an error when the kernel answers ``refusal``."""
        try:
            self.request(msg_type, payload)
        except AuditNetlinkError as exc:
            if exc.errno == refusal:
                return False
            raise
        return True

    def delete_rule(self, rule: AuditRule) -> None:
        self.request(AUDIT_DEL_RULE, encode_rule(rule))

    def list_rules(self) -> list[tuple[AuditRule, bytes]]:
        seq = self._send(AUDIT_LIST_RULES, b"", NLM_F_REQUEST)
        out: list[tuple[AuditRule, bytes]] = []
        for reply_type, body in self._replies(seq):
            if reply_type == NLMSG_DONE:
                return out
            if reply_type == NLMSG_ERROR:
                code = -struct.unpack_from("=i", body)[0]
                if code:
                    raise AuditNetlinkError(code, f"AUDIT_LIST_RULES: {os.strerror(code)}")
                continue
            if reply_type == AUDIT_LIST_RULES:
                out.append(decode_rule(body))
        return out

    def delete_rules_with_key(self, key: str) -> int:
        """Delete every rule carrying ``key``; returns how many were removed."""
        removed = 0
        for rule, raw in self.list_rules():
            if rule.key == key:
                self.request(AUDIT_DEL_RULE, raw)
                removed += 1
        return removed

    # -- records --------------------------------------------------------------------------------------------
    def recv_record(self) -> tuple[int, bytes] | None:
        """One kernel record ``(type, text)``; ``None`` for a datagram that is not a record."""
        data = self.sock.recv(1 << 16)
        if len(data) < _HDR.size:
            return None
        _length, msg_type, _flags, _seq, _pid = _HDR.unpack_from(data)
        if msg_type < 1100:
            return None
        return msg_type, data[_HDR.size:].rstrip(b"\0")
