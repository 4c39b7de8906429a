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

import copy
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from bpf_support import settled
from cli_support import wait_or_kill

from falcoctl_py.render import render
from falcoctl_py.values import build_values

REPO = Path(__file__).resolve().parents[2]
OBJECT = REPO / "engine/sources/syscall/ebpf/probe.bpf.o"
pytestmark = [
    pytest.mark.helm,
    pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/kernel/btf/vmlinux").exists() or not OBJECT.exists()
                       or not all(shutil.which(t) for t in ("unshare", "setpriv", "bpftool", "mount")),
                       reason="needs root, kernel BTF, the built probe, unshare, setpriv and bpftool"),
]
RULE = "Marker file read"
# Inside the new namespaces: the host's /proc goes read-only to <host_root>/proc (as the chart's hostPath mount),
# the pod gets a /proc of its own PID namespace, then the engine starts with only the given capabilities, as
# runAsUser 0 with allowPrivilegeEscalation false, drop ALL and add [...] start a container process.
POD = """set -e
mount --bind /proc "$HOST_ROOT/proc"
mount -o remount,bind,ro "$HOST_ROOT/proc"
mount -t proc proc /proc
exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set="$BOUNDING" -- "$@"
"""


def available_caps() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1], 16) for line in fh if line.startswith("CapBnd:"))


CAP_BITS = {"BPF": 39, "PERFMON": 38, "SYS_RESOURCE": 24, "SYS_PTRACE": 19}


def kernel_at_least(major: int, minor: int) -> bool:
    parts = platform.release().split(".")
    return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Capabilities, host root mount and engine config from the medium profile's default render."""
    work = tmp_path_factory.mktemp("pod")
    marker = work / "marker"
    marker.write_text("x")
    rule = [{"rule": RULE, "desc": "the test's marker file was opened for reading", "priority": "WARNING",
             "condition": f'evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.name = "{marker}"',
             "output": "marker read (pid=%proc.pid vpid=%proc.vpid exepath=%proc.exepath ppid=%proc.ppid "
                       "pexepath=%proc.pexepath)"}]
    extra = work / "rules-values.yaml"
    extra.write_text(yaml.safe_dump({"rules": {"files": {"marker.yaml": yaml.safe_dump(rule)}}}))
    docs = render(build_values(profile="medium", values_files=[extra]), kube_version="1.35")
    daemonsets = [d for d in docs if d["kind"] == "DaemonSet"]
    caps = {tuple(d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"])
            for d in daemonsets}
    assert len(caps) == 1, f"every engine DaemonSet adds the same capabilities: {caps}"
    spec = daemonsets[0]["spec"]["template"]["spec"]
    assert spec["hostPID"] is False and spec["hostNetwork"] is False
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    config = yaml.safe_load(next(d for d in maps if d["metadata"]["name"].endswith("-config"))["data"]["engine-node.yaml"])
    section = config["sources"]["syscall"]
    assert section["backend"] == "ebpf"
    assert mounts[f"{section['host_root']}/proc"]["readOnly"] is True
    rules_dir = work / "rules.d"
    rules_dir.mkdir()
    for name, text in next(d for d in maps if d["metadata"]["name"].endswith("-rules"))["data"].items():
        (rules_dir / name).write_text(text)
    host = work / "host"
    (host / "proc").mkdir(parents=True)
    local = copy.deepcopy(config)  # the pod's paths, moved under the test's directory; nothing else changes
    local["rules"] = [str(REPO / "engine/default_rules") if r == "/opt/falco-py/share/default-rules" else
                      str(rules_dir) for r in config["rules"]]
    local_section = local["sources"]["syscall"]
    local_section["host_root"] = str(host)
    local_section["container_state_roots"] = [str(host) + r.removeprefix(section["host_root"])
                                              for r in section["container_state_roots"]]
    path = work / "engine.yaml"
    path.write_text(yaml.safe_dump(local))
    return {"caps": list(next(iter(caps))), "config": path, "host": host, "marker": marker}


def run_pod(rendered: dict[str, Any], caps: list[str], *, timeout: float = 40.0) -> dict[str, Any]:
    """Start the engine in its own namespaces with ``caps``; read the marker from the host until it alerts
    (or the engine exits); stop it. Returns the exit code, the marker alerts and stderr."""
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in caps)])
    env = {**os.environ, "HOST_ROOT": str(rendered["host"]), "BOUNDING": bounding}
    env.pop("FALCOPY_HOST_ROOT", None)
    argv = ["unshare", "--mount", "--net", "--pid", "--cgroup", "--fork", "--kill-child", "--",
            "sh", "-c", POD, "pod", sys.executable, "-m", "falcoctl_py.cli.main", "engine", "run",
            "--config", str(rendered["config"])]
    pod = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(pod.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    alerts: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and pod.poll() is None and not alerts:
            subprocess.run(["cat", str(rendered["marker"])], capture_output=True, check=True)
            time.sleep(0.5)
            alerts = [a for a in map(json.loads, (x for x in list(lines) if x.startswith("{")))
                      if a.get("rule") == RULE]
    finally:
        engine = _engine_pid(pod.pid)
        if pod.poll() is None and engine:
            os.kill(engine, signal.SIGTERM)  # the engine is pid 1 of its namespace: it handles SIGTERM
        wait_or_kill(pod, 20)
        reader.join(5)
        err = pod.stderr.read() if pod.stderr else ""
        for pipe in (pod.stdout, pod.stderr):
            if pipe is not None:
                pipe.close()
    return {"code": pod.returncode, "alerts": alerts, "stderr": err}


def _engine_pid(unshare_pid: int) -> int | None:
    try:
        with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as fh:
            children = fh.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def _fields(result: dict[str, Any]) -> dict[str, Any]:
    assert result["alerts"], f"no alert (exit {result['code']}): {result['stderr'][-1500:]}"
    fields: dict[str, Any] = result["alerts"][0]["output_fields"]
    return fields


def _granted(caps: list[str]) -> list[str]:
    have = available_caps()
    return [c for c in caps if have >> CAP_BITS[c] & 1]


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
    result = run_pod(rendered, _granted(rendered["caps"]))
    result["leftover"] = settled(before)
    result["before"] = before
    return result


def test_every_added_capability_has_a_proof(rendered: dict[str, Any]) -> None:
    assert set(rendered["caps"]) == set(PROOF)


def test_chart_capabilities_alone_raise_alerts_for_host_processes(rendered: dict[str, Any],
                                                                  full: dict[str, Any]) -> None:
    fields = _fields(full)
    assert full["code"] in (0, -signal.SIGTERM), full["stderr"][-1500:]
    # the reader is a host process, seen with its host pid from inside the engine's own PID namespace
    assert fields["proc.pid"] == fields["proc.vpid"] and fields["proc.ppid"] == os.getpid()
    assert fields["proc.exepath"] == shutil.which("cat")
    assert fields["proc.pexepath"] == os.path.realpath(sys.executable)  # the parent, read from <host_root>/proc
    assert full["leftover"] == full["before"], "programs left loaded after the engine stopped"


@pytest.mark.parametrize("dropped", sorted(PROOF))
def test_dropping_one_capability_shows_what_it_is_for(rendered: dict[str, Any], full: dict[str, Any],
                                                      dropped: str) -> None:
    granted = _granted(rendered["caps"])
    if dropped not in granted:
        # this machine cannot grant it at all: every run here, the full one included, is the run without it
        assert PROOF[dropped] == "memlock" and kernel_at_least(5, 11) and full["alerts"]
        return
    before = settled([])  # what is loaded once programs of earlier tests are freed
    result = run_pod(rendered, [c for c in granted if c != dropped], timeout=25.0)
    assert settled(before) == before
    outcome = PROOF[dropped]
    if outcome == "refused":
        assert result["code"] == 4 and f"CAP_{dropped}" in result["stderr"], (result["code"], result["stderr"][-800:])
        assert not result["alerts"]
    elif outcome == "fields":
        fields = _fields(result)
        assert fields["proc.exepath"] == shutil.which("cat")  # from the kernel's exec record: no /proc read
        assert fields["proc.pexepath"] in (None, ""), fields  # a process older than the engine: /proc denied
    else:  # memlock: BPF memory is charged to the cgroup from 5.11 on, so the rlimit does not matter
        if kernel_at_least(5, 11):
            assert _fields(result)["proc.pexepath"] == os.path.realpath(sys.executable)
        else:
            assert result["code"] != 0 and not result["alerts"]
