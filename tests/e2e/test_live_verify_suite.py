"""Falco's own syscall suite (``../shared/upstream/evtgen_suite``, unmodified) with the upstream
``falco_rules.yaml``, run by ``falcoctl-py verify`` on every syscall backend that can run here.

The eBPF backend must pass every test with none tolerated. The audit and proc-connector backends see less of the
kernel; what each can and cannot pass is the table in docs/verify.md, and this test holds them to it (a backend
that starts passing more, or fewer, tests than the table says fails here until the table is updated).

Needs root and the kernel interfaces; run under the kernel lock (the engine captures syscalls).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from cli_support import cli_process
from hoststate import changes, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="verify needs root and a real Linux kernel")

# rule -> why the backend cannot see it (every other rule's tests must pass)
PROC_CANNOT = {  # the proc connector reports exec and exit only
    "Create Hardlink Over Sensitive Files": "link/linkat are not exec or exit events",
    "Create Symlink Over Sensitive Files": "symlink/symlinkat are not exec or exit events",
    "Read sensitive file trusted after startup": "needs the open* events",
    "Read sensitive file untrusted": "needs the open* events",
    "Packet socket created in container": "needs the socket event",
    "Redirect STDOUT/STDIN to Network Connection in Container": "needs the dup* events",
}
CANNOT = {"ebpf": {}, "audit": {}, "proc": PROC_CANNOT}


def _backend_runs(backend: str) -> bool:
    probe = {"ebpf": Path("engine/sources/syscall/ebpf/probe.bpf.o"), "audit": None, "proc": None}[backend]
    return probe is None or probe.exists()


@pytest.mark.parametrize("backend", ["ebpf", "audit", "proc"])
def test_upstream_suite(backend: str, shared: Path, upstream_rules: Path) -> None:
    if not _backend_runs(backend):
        pytest.skip(f"the {backend} backend is not built here")
    before = snapshot()
    done = cli_process("verify", "--suite", str(shared / "upstream" / "evtgen_suite"), "--rules",
                       str(upstream_rules / "falco_rules.yaml"), "--backend", backend, "-o", "json", timeout=900)
    after = snapshot()
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    tests = report["tests"]
    assert len(tests) == 529
    wrong = [(t["name"], t["status"], t["detail"], t["mismatches"]) for t in tests
             if (t["status"] == "pass") == (t["rule"] in CANNOT[backend])]
    assert not wrong, f"{len(wrong)} tests differ from the documented table, first: {wrong[:5]}"
    print(f"\n{backend}: {dict(Counter(t['status'] for t in tests))} in {report['seconds']} s")
    assert done.returncode == (0 if not CANNOT[backend] else 1)
    assert not [s for t in tests for s in t["steps"] if s.startswith("not removed")]
    assert changes(before, after) == []
