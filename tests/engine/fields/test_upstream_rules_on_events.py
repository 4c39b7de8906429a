"""Upstream Falco rules, loaded unmodified, fire (and stay quiet) on constructed syscall events.

This exercises the syscall field tables through the real loader and compiler: a field with the wrong type,
list-ness or semantics shows up as a missing or unexpected alert here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent

rules_mod = pytest.importorskip("engine.rules")

TS = 1_700_000_000_000_000_000
# Events carry num=1: Falco numbers events from 1 and several upstream rules exclude `evt.num = 0`.
CID = "0123456789ab"


@pytest.fixture(scope="module")
def ruleset(upstream_rules: Path) -> Any:
    result = rules_mod.load_rules([upstream_rules / "falco_rules.yaml"], rule_matching="all")
    assert result.successful, [f.to_dict() for f in result.errors]
    assert not result.errors
    return result.ruleset


def _pod() -> ContainerInfo:
    return ContainerInfo(id=CID, name="web", image="nginx:1.25", image_repository="nginx", image_tag="1.25",
                         privileged=False, pod_name="web-0", pod_namespace="prod", start_ts=TS - 10**12)


def _shim() -> ProcessInfo:
    return ProcessInfo(pid=50, name="containerd-shim", exepath="/usr/bin/containerd-shim-runc-v2")


def _proc(name: str, *, parent: ProcessInfo | None = None, **kw: Any) -> ProcessInfo:
    kw.setdefault("exepath", f"/usr/bin/{name}")
    kw.setdefault("exe", name)
    kw.setdefault("uid", 0)
    return ProcessInfo(pid=kw.pop("pid", 200), name=name, parent=parent, container_id=CID, **kw)


def _fired(ruleset: Any, event: SyscallEvent) -> set[str]:
    fired = ruleset.evaluate(event)
    for rule in fired:
        text, fields = rule.formatter.format(event)  # outputs render without raising
        assert text and isinstance(fields, dict)
    return {rule.name for rule in fired}


def test_terminal_shell_in_container(ruleset: Any) -> None:
    bash = _proc("bash", parent=_shim(), tty=34816, args=[], exepath="/bin/bash")
    ev = SyscallEvent(type="execve", ts=TS, num=1, res=0, proc=bash, container=_pod(), args={"flags": 0})
    assert "Terminal shell in container" in _fired(ruleset, ev)
    bash.tty = 0
    assert "Terminal shell in container" not in _fired(ruleset, ev)


def test_read_sensitive_file_untrusted(ruleset: Any) -> None:
    cat = _proc("cat", parent=_proc("sh", pid=150, parent=_shim()), args=["/etc/shadow"])
    fd = FdInfo(num=3, type="file", name="/etc/shadow", directory="/etc", filename="shadow")
    ev = SyscallEvent(type="openat", ts=TS, num=1, res=3, proc=cat, fd=fd, container=_pod(),
                      args={"dirfd": -100, "name": "/etc/shadow", "flags": 0o2000000, "mode": 0})
    assert "Read sensitive file untrusted" in _fired(ruleset, ev)
    fd.name, fd.directory, fd.filename = "/etc/hostname", "/etc", "hostname"
    assert "Read sensitive file untrusted" not in _fired(ruleset, ev)


def test_packet_socket_in_container(ruleset: Any) -> None:
    ev = SyscallEvent(type="socket", ts=TS, num=1, res=4, proc=_proc("tcpdump", parent=_shim()), container=_pod(),
                      args={"domain": 17, "type": 3, "proto": 768}, fd=FdInfo(num=4, type="netlink"))
    assert "Packet socket created in container" in _fired(ruleset, ev)
    ev.args["domain"] = 2  # AF_INET
    assert "Packet socket created in container" not in _fired(ruleset, ev)


def test_ptrace_attach(ruleset: Any) -> None:
    ev = SyscallEvent(type="ptrace", ts=TS, num=1, res=0, proc=_proc("gdb", parent=_shim()), container=_pod(),
                      args={"request": 16, "pid": 99})
    assert "PTRACE attached to process" in _fired(ruleset, ev)
    ev.args["request"] = 0  # PTRACE_TRACEME
    assert _fired(ruleset, ev) & {"PTRACE anti-debug attempt"}


def test_fileless_and_dropped_binaries(ruleset: Any) -> None:
    proc = _proc("x", parent=_shim(), exe_from_memfd=True, exepath="memfd:x")
    ev = SyscallEvent(type="execve", ts=TS, num=1, res=0, proc=proc, container=_pod())
    assert "Fileless execution via memfd_create" in _fired(ruleset, ev)
    proc.exe_from_memfd, proc.exe_upper_layer = False, True
    fired = _fired(ruleset, ev)
    assert "Drop and execute new binary in container" in fired
    assert "Fileless execution via memfd_create" not in fired


def test_kernel_module_from_container_needs_the_capability(ruleset: Any) -> None:
    proc = _proc("insmod", parent=_shim(), args=["evil.ko"], cap_effective=1 << 16)  # CAP_SYS_MODULE
    ev = SyscallEvent(type="init_module", ts=TS, num=1, res=0, proc=proc, container=_pod())
    assert "Linux Kernel Module Injection Detected" in _fired(ruleset, ev)
    proc.cap_effective = 1 << 21
    assert "Linux Kernel Module Injection Detected" not in _fired(ruleset, ev)


def test_host_process_is_not_a_container(ruleset: Any) -> None:
    bash = ProcessInfo(pid=9, name="bash", exe="bash", exepath="/bin/bash", tty=34816, parent=_shim())
    ev = SyscallEvent(type="execve", ts=TS, num=1, res=0, proc=bash)
    assert "Terminal shell in container" not in _fired(ruleset, ev)


def test_aname_in_matches_any_ancestor() -> None:
    from engine.condition import compile_condition, parse

    check = compile_condition(parse("proc.aname in (bash, nosuch)"), "syscall")
    proc = ProcessInfo(pid=3, name="cat", parent=ProcessInfo(pid=2, name="bash", parent=ProcessInfo(pid=1,
                                                                                                   name="init")))
    assert check(SyscallEvent(type="openat", proc=proc)) is True


def test_port_in_matches_either_end() -> None:
    from engine.condition import compile_condition, parse

    check = compile_condition(parse("fd.port in (80, 443)"), "syscall")
    fd = FdInfo(num=3, type="ipv4", sip="10.0.0.1", sport=40000, dip="10.0.0.2", dport=80, l4proto="tcp")
    assert check(SyscallEvent(type="connect", fd=fd, proc=ProcessInfo(pid=1, name="curl"))) is True


def test_all_three_upstream_files_compile_against_our_tables(upstream_rules: Path) -> None:
    names = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
    result = rules_mod.load_rules([upstream_rules / n for n in names])
    problems = [f.to_dict() for f in (*result.errors, *result.warnings)]
    assert result.successful and not problems, problems
    assert len(result.ruleset.rules) > 80
