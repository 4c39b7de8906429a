"""Audit record text: header, string encodings, EXECVE chunks, sockaddr, grouping by serial until EOE."""

from __future__ import annotations

import pytest

from engine.sources.syscall.linux_audit.records import (
    AUDIT_CWD,
    AUDIT_EOE,
    AUDIT_EXECVE,
    AUDIT_PATH,
    AUDIT_SOCKADDR,
    AUDIT_SYSCALL,
    Assembler,
    RecordError,
    execve_args,
    parse_record,
    sockaddr,
    untrusted,
)

SYSCALL = (b'audit(1700000000.123:4567): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd a2=0 '
           b'a3=0 items=1 ppid=10 pid=42 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 '
           b'tty=pts0 ses=3 comm="cat" exe="/usr/bin/cat" subj=unconfined key="falcopy"')


def test_header_and_fields() -> None:
    rec = parse_record(AUDIT_SYSCALL, SYSCALL)
    assert rec.ts_ns == 1_700_000_000_123_000_000 and rec.serial == 4567
    assert rec.fields[b"syscall"] == b"257" and untrusted(rec.fields[b"comm"]) == "cat"
    assert untrusted(rec.fields[b"key"]) == "falcopy"


def test_bad_header_is_an_error_naming_the_type() -> None:
    with pytest.raises(RecordError, match="record type 1300"):
        parse_record(AUDIT_SYSCALL, b"garbage")


@pytest.mark.parametrize(("raw", "text"), [
    (b'"plain"', "plain"), (b"2F746D702F6120622E747874", "/tmp/a b.txt"), (b"(null)", None), (None, None),
])
def test_untrusted_encodings(raw: bytes | None, text: str | None) -> None:
    assert untrusted(raw) == text


def test_execve_args_with_hex_and_chunks() -> None:
    rec = parse_record(AUDIT_EXECVE, b'audit(1.0:1): argc=4 a0="find" a1=2F746D702F61206220 a2_len=8 '
                                     b'a2[0]="id_r" a2[1]="sa.." a3="-q"')
    assert execve_args(rec) == ["find", "/tmp/a b ", "id_rsa..", "-q"]


def test_sockaddr_ipv4_ipv6_unix() -> None:
    v4 = sockaddr(b"0200005008080808" + b"0" * 16)
    assert v4 is not None and (v4.family, v4.ip, v4.port) == ("ipv4", "8.8.8.8", 80)
    v6 = sockaddr(b"0A0001BB00000000" + b"00" * 15 + b"01" + b"00000000")
    assert v6 is not None and (v6.family, v6.ip, v6.port) == ("ipv6", "::1", 443)
    unix = sockaddr(b"0100" + b"/run/x.sock".hex().encode() + b"00")
    assert unix is not None and (unix.family, unix.path) == ("unix", "/run/x.sock")
    assert sockaddr(b"zz") is None


def test_assembler_groups_until_eoe_and_bounds_open_groups() -> None:
    asm = Assembler(max_open=2)
    assert asm.add(parse_record(AUDIT_SYSCALL, SYSCALL)) is None
    assert asm.add(parse_record(AUDIT_CWD, b'audit(1700000000.123:4567): cwd="/root"')) is None
    assert asm.add(parse_record(AUDIT_PATH, b'audit(1700000000.123:4567): item=0 name="/etc/shadow" '
                                            b'nametype=NORMAL')) is None
    assert asm.add(parse_record(AUDIT_SOCKADDR, b"audit(1700000000.123:4567): saddr=0200005008080808")) is None
    group = asm.add(parse_record(AUDIT_EOE, b"audit(1700000000.123:4567): "))
    assert group is not None and group.cwd == "/root" and len(group.paths) == 1 and group.sockaddr is not None
    assert asm.pending() == 0
    for serial in (1, 2, 3):
        asm.add(parse_record(AUDIT_CWD, f"audit(1.0:{serial}): cwd=\"/\"".encode()))
    assert asm.pending() == 2 and asm.evicted == 1
