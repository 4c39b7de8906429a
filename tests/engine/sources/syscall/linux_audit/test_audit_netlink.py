"""Audit netlink: rule encoding round trip, and (as root) status read and a keyed rule added and removed."""

from __future__ import annotations

import os

import pytest

from engine.sources.syscall.linux_audit.netlink import AuditRule, AuditSocket, decode_rule, encode_rule
from engine.sources.syscall.linux_audit.syscalls import AUDIT_ARCH_X86_64, BY_NUMBER, X86_64


def test_syscall_table_is_x86_64() -> None:
    assert (X86_64["read"], X86_64["openat"], X86_64["execve"], X86_64["ptrace"]) == (0, 257, 59, 101)
    assert BY_NUMBER[59] == "execve"


def test_rule_round_trip() -> None:
    rule = AuditRule(frozenset({0, 31, 32, 59, 257, 435}), AUDIT_ARCH_X86_64, "falcopy")
    decoded, raw = decode_rule(encode_rule(rule))
    assert decoded == rule and raw == encode_rule(rule)
    mine = AuditRule(frozenset({59}), AUDIT_ARCH_X86_64, "falcopy", exclude_pid=4242)
    assert decode_rule(encode_rule(mine))[0] == mine


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_keyed_rule_added_listed_and_removed() -> None:
    sock = AuditSocket()
    try:
        status = sock.get_status()
        assert status.backlog_limit > 0
        key = f"falcopy-test-{os.getpid()}"
        sock.add_rule(AuditRule(frozenset({X86_64["openat"]}), AUDIT_ARCH_X86_64, key))
        try:
            assert next(r for r, _ in sock.list_rules() if r.key == key).syscalls == {X86_64["openat"]}
        finally:
            assert sock.delete_rules_with_key(key) == 1
        assert not [r for r, _ in sock.list_rules() if r.key == key]
    finally:
        sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_kernel_keeps_the_pid_exclusion_of_a_rule() -> None:
    sock = AuditSocket()
    key = f"falcopy-test-{os.getpid()}"
    try:
        sock.add_rule(AuditRule(frozenset({X86_64["openat"]}), AUDIT_ARCH_X86_64, key, exclude_pid=os.getpid()))
        listed = next(r for r, _ in sock.list_rules() if r.key == key)
        assert listed.exclude_pid == os.getpid() and listed.arch == AUDIT_ARCH_X86_64
    finally:
        sock.delete_rules_with_key(key)
        sock.close()
