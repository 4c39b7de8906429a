"""The RuntimeDefault seccomp question, asked of the real kernel: the ebpf backend needs bpf(2) and nothing else
that container runtimes' default profiles gate on a capability (no perf_event_open: its programs attach through
BPF links), and when a seccomp filter refuses bpf(2) — as RuntimeDefault profiles that allow it only with
CAP_SYS_ADMIN do — the engine stops with exit 4 and one line naming seccomp, leaving nothing loaded.

The filter is installed in the child process only (libseccomp, ``SCMP_ACT_ERRNO(EPERM)`` for the named
syscalls, everything else allowed), so no kernel state outlives the test. Needs root, BTF and the built probe.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bpf_support import settled

REPO = Path(__file__).resolve().parents[2]
OBJECT = REPO / "engine/sources/syscall/ebpf/probe.bpf.o"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/sys/kernel/btf/vmlinux").exists() or not OBJECT.exists()
    or ctypes.util.find_library("seccomp") is None or shutil.which("bpftool") is None,
    reason="needs root, kernel BTF, the built probe, libseccomp and bpftool")

# argv: comma-separated syscalls to refuse, then the command to exec under the filter.
REFUSE = textwrap.dedent("""
    import ctypes, ctypes.util, errno, os, sys
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp"))
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    ctx = ctypes.c_void_p(lib.seccomp_init(ctypes.c_uint32(0x7FFF0000)))  # SCMP_ACT_ALLOW
    for name in sys.argv[1].split(","):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        assert lib.seccomp_rule_add(ctx, ctypes.c_uint32(0x00050000 | errno.EPERM), nr, 0) == 0
    assert lib.seccomp_load(ctx) == 0
    os.execvp(sys.argv[2], sys.argv[2:])
""")
START_AND_CLOSE = textwrap.dedent("""
    from engine.sources.syscall.ebpf.backend import EbpfBackend
    backend = EbpfBackend({"openat", "execve", "connect"}, scan=False)
    backend.open()
    backend.close()
    print("started and closed")
""")


def under_filter(refused: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", REFUSE, refused, *argv], capture_output=True, text=True,
                          cwd=REPO, timeout=60, check=False)


def test_probe_loads_and_attaches_without_perf_event_open() -> None:
    done = under_filter("perf_event_open", sys.executable, "-c", START_AND_CLOSE)
    assert done.returncode == 0 and "started and closed" in done.stdout, done.stderr[-1500:]


def test_seccomp_refusing_bpf_is_named_and_exits_4(tmp_path: Path) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(f"rules: [{REPO / 'engine/default_rules'}]\nmetrics: {{listen: '127.0.0.1:0'}}\n"
                      "sources: {syscall: {backend: ebpf}}\n")
    before = settled([])  # none of ours, once earlier tests' programs are freed
    done = under_filter("bpf", sys.executable, "-m", "falcoctl_py.cli.main", "engine", "run", "--config",
                        str(config))
    assert done.returncode == 4, done.stderr[-1500:]
    line = next(x for x in done.stderr.splitlines() if "cannot start" in x)
    assert "seccomp filter is active" in line and "daemonset.seccompProfile" in line
    assert "Traceback" not in done.stderr
    assert settled(before) == before
