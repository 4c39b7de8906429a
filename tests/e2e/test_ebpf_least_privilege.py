"""The ebpf backend as the chart runs it: own network, PID, mount and cgroup namespaces, host ``/proc`` mounted
read-only at ``<host_root>/proc``, no privilege, exactly the capabilities the rendered DaemonSet adds — and it
still raises alerts for host processes. Then each capability is dropped in turn to show what it is needed for.

The capabilities, the host root and the engine config are read from a render of the medium profile (the chart is
the only list); ``PROOF`` says what dropping each one breaks and must name every capability the chart adds, so
the list cannot grow or shrink without a proof here. Needs root, kernel BTF and the probe built by ``make setup``.
Nothing outlives the test: the namespaces go with their last process, nothing is pinned, and the programs the
engine loaded are gone afterwards (``bpftool prog show`` before and after).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from bpf_support import settled
from pod_support import granted, marker_fields, marker_rule_values, node_pod, run_pod, tools_missing

from falcoctl_py.render import render
from falcoctl_py.values import build_values

REPO = Path(__file__).resolve().parents[2]
OBJECT = REPO / "engine/sources/syscall/ebpf/probe.bpf.o"
pytestmark = [
    pytest.mark.helm,
    pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/kernel/btf/vmlinux").exists() or not OBJECT.exists()
                       or tools_missing() or not shutil.which("bpftool"),
                       reason="needs root, kernel BTF, the built probe, unshare, setpriv and bpftool"),
]


def kernel_at_least(major: int, minor: int) -> bool:
    parts = platform.release().split(".")
    return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Capabilities, host root mount and engine config from the medium profile's default render."""
    work = tmp_path_factory.mktemp("pod")
    extra, marker = marker_rule_values(work)
    pod = node_pod(render(build_values(profile="medium", values_files=[extra]), kube_version="1.35"), work)
    spec = pod["spec"]
    assert spec["hostPID"] is False and spec["hostNetwork"] is False
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert pod["section"]["backend"] == "ebpf"
    assert mounts[f"{pod['section']['host_root']}/proc"]["readOnly"] is True
    return {**pod, "marker": marker}


# What the engine loses without each capability the chart adds (the test fails if the chart adds one not here).
PROOF = {
    "BPF": "refused",         # bpf(2): maps, programs, the ring buffer
    "PERFMON": "refused",     # tracing programs (tp_btf) and reading kernel memory from them
    "SYS_PTRACE": "fields",   # readlink/read of other processes' /proc entries (exe, cwd, environ) at the scan
    "SYS_RESOURCE": "memlock",  # RLIMIT_MEMLOCK for BPF memory: kernels before 5.11 only
}


@pytest.fixture(scope="module")
def full(rendered: dict[str, Any]) -> dict[str, Any]:
    before = settled([])  # what is loaded once programs of earlier tests are freed
    result = run_pod(rendered, granted(rendered["caps"]), rendered["marker"])
    result["leftover"] = settled(before)
    result["before"] = before
    return result


def test_every_added_capability_has_a_proof(rendered: dict[str, Any]) -> None:
    assert set(rendered["caps"]) == set(PROOF)


def test_chart_capabilities_alone_raise_alerts_for_host_processes(rendered: dict[str, Any],
                                                                  full: dict[str, Any]) -> None:
    fields = marker_fields(full)
    assert full["code"] in (0, -signal.SIGTERM), full["stderr"][-1500:]
    # the reader is a host process, seen with its host pid from inside the engine's own PID namespace
    assert fields["proc.pid"] == fields["proc.vpid"] and fields["proc.ppid"] == os.getpid()
    assert fields["proc.exepath"] == shutil.which("cat")
    assert fields["proc.pexepath"] == os.path.realpath(sys.executable)  # the parent, read from <host_root>/proc
    assert full["leftover"] == full["before"], "programs left loaded after the engine stopped"


@pytest.mark.parametrize("dropped", sorted(PROOF))
def test_dropping_one_capability_shows_what_it_is_for(rendered: dict[str, Any], full: dict[str, Any],
                                                      dropped: str) -> None:
    allowed = granted(rendered["caps"])
    if dropped not in allowed:
        # this machine cannot grant it at all: every run here, the full one included, is the run without it
        assert PROOF[dropped] == "memlock" and kernel_at_least(5, 11) and full["alerts"]
        return
    before = settled([])  # what is loaded once programs of earlier tests are freed
    result = run_pod(rendered, [c for c in allowed if c != dropped], rendered["marker"], timeout=25.0)
    assert settled(before) == before
    outcome = PROOF[dropped]
    if outcome == "refused":
        assert result["code"] == 4 and f"CAP_{dropped}" in result["stderr"], (result["code"], result["stderr"][-800:])
        assert not result["alerts"]
    elif outcome == "fields":
        fields = marker_fields(result)
        assert fields["proc.exepath"] == shutil.which("cat")  # from the kernel's exec record: no /proc read
        assert fields["proc.pexepath"] in (None, ""), fields  # a process older than the engine: /proc denied
    else:  # memlock: BPF memory is charged to the cgroup from 5.11 on, so the rlimit does not matter
        if kernel_at_least(5, 11):
            assert marker_fields(result)["proc.pexepath"] == os.path.realpath(sys.executable)
        else:
            assert result["code"] != 0 and not result["alerts"]
