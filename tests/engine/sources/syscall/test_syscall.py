"""Backend selection and the up-front privilege/namespace checks, verified in real namespaces (unshare)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.sources.syscall import SyscallSourceUnavailable, build, choose_backend

ROOT = os.geteuid() == 0 and shutil.which("unshare") is not None
REPO = Path(__file__).resolve().parents[4]
PROBE = ("from engine.sources.syscall import SyscallSourceUnavailable, choose_backend\n"
         "import sys\n"
         "try:\n    print(choose_backend(sys.argv[1]))\n"
         "except SyscallSourceUnavailable as exc:\n    print(exc); sys.exit(exc.exit_code)\n")


NO_EBPF = {"FALCOPY_BPF_OBJECT": "/nonexistent/probe.bpf.o"}  # the ebpf backend cannot run: the older choices


def probe(*unshare: str, backend: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["unshare", *unshare, sys.executable, "-c", PROBE, backend] if unshare else [
        sys.executable, "-c", PROBE, backend]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=30, check=False,
                          env={**os.environ, **(env or {})})


def test_unknown_backend_is_a_usage_problem() -> None:
    with pytest.raises(ValueError, match="unknown backend 'kprobe'"):
        choose_backend("kprobe")


@pytest.mark.skipif(not ROOT, reason="needs root and unshare")
def test_host_namespaces_allow_both() -> None:
    assert probe(backend="audit").stdout.strip() == "audit"
    assert probe(backend="proc").stdout.strip() == "proc"


@pytest.mark.skipif(not ROOT, reason="needs root and unshare")
def test_proc_backend_needs_host_network_namespace() -> None:
    done = probe("--net", backend="proc")
    assert done.returncode == 4 and "hostNetwork" in done.stdout and done.stderr == ""
    assert done.stdout.count("\n") == 1
    assert probe("--net", backend="audit").stdout.strip() == "audit"  # audit works in a pod network namespace


@pytest.mark.skipif(not ROOT, reason="needs root and unshare")
def test_audit_backend_needs_host_pid_namespace() -> None:
    done = probe("--pid", "--fork", backend="audit")
    assert done.returncode == 4 and "hostPID" in done.stdout
    assert probe("--pid", "--fork", backend="auto", env=NO_EBPF).stdout.strip() == "proc"  # auto falls back


@pytest.mark.skipif(not ROOT, reason="needs root and unshare")
def test_auto_names_every_missing_piece_when_nothing_works() -> None:
    done = probe("--pid", "--fork", "--net", backend="auto", env=NO_EBPF)
    assert done.returncode == 4
    assert "ebpf: the probe object /nonexistent/probe.bpf.o was not built" in done.stdout
    assert "audit: not in the host PID namespace" in done.stdout and "proc: " in done.stdout


@pytest.mark.skipif(not ROOT or shutil.which("capsh") is None, reason="needs root and capsh")
def test_missing_capability_is_named() -> None:
    done = subprocess.run(["capsh", "--drop=cap_audit_control", "--", "-c",
                           f"{sys.executable} -c '{PROBE}' audit"], capture_output=True, text=True, cwd=REPO,
                          timeout=30, check=False)
    assert done.returncode == 4 and "CAP_AUDIT_CONTROL" in done.stdout


def test_build_raises_before_changing_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.sources import syscall

    def refuse() -> None:
        raise SyscallSourceUnavailable("audit", "capability CAP_AUDIT_CONTROL is missing")

    monkeypatch.setitem(syscall.CHECKS, "audit", refuse)
    with pytest.raises(SyscallSourceUnavailable, match="CAP_AUDIT_CONTROL") as info:
        build({"sources": {"syscall": {"enabled": True, "backend": "audit"}}}, event_types={"openat"})
    assert info.value.exit_code == 4


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_build_picks_backend_and_wraps_recording(tmp_path: Path) -> None:
    source = build({"backend": "proc", "record": str(tmp_path / "rec.jsonl")})
    assert source.name == "syscall" and source.inner.backend == "proc"
    plain = build({"sources": {"syscall": {"backend": "audit"}}}, event_types={"openat"})
    assert plain.backend == "audit" and 257 in plain.syscalls


def test_audit_buffer_settings_reach_the_backend() -> None:
    from engine.sources.syscall.linux_audit.backend import BACKLOG_LIMIT, RCVBUF

    default = build({"sources": {"syscall": {"backend": "audit"}}}, event_types={"openat"})
    assert (default.backlog_limit, default.rcvbuf, default.block_when_full) == (BACKLOG_LIMIT, RCVBUF, False)
    tuned = build({"sources": {"syscall": {"backend": "audit", "audit": {
        "backlog_limit": 4096, "receive_buffer_mb": 4, "block_when_full": True}}}}, event_types={"openat"})
    assert (tuned.backlog_limit, tuned.rcvbuf, tuned.block_when_full) == (4096, 4 << 20, True)


def test_audit_buffer_settings_are_checked_by_the_config_schema(tmp_path: Path) -> None:
    from engine.config import ConfigError, load_config

    path = tmp_path / "engine.yaml"
    path.write_text("sources:\n  syscall:\n    audit:\n      backlog_limt: 10\n")
    with pytest.raises(ConfigError, match="backlog_limt"):
        load_config(path)


EBPF_READY = ROOT and Path("/sys/kernel/btf/vmlinux").exists() and (
    REPO / "engine/sources/syscall/ebpf/probe.bpf.o").exists()


@pytest.mark.skipif(not EBPF_READY, reason="needs root, BTF and the built probe (make setup)")
def test_ebpf_runs_in_pod_namespaces_and_auto_prefers_it() -> None:
    assert probe(backend="auto").stdout.strip() == "ebpf"
    assert probe("--pid", "--fork", "--net", backend="auto").stdout.strip() == "ebpf"
