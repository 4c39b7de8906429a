"""The engine's node pod as the chart renders it, run on this host without Kubernetes.

Owns: a marker rule given to the chart as rules values (``marker_rule_values``), reading a rendered node
DaemonSet and its config (``node_pod``: the capabilities, host namespaces, host root and engine config, the pod's
paths moved under the test's directory), and running the engine in what the pod spec gives it (``run_pod``): its
own mount and cgroup namespaces, its own network and PID namespaces unless the spec takes the host's, the host's
``/proc`` read-only at ``<host_root>/proc``, no privilege, exactly the given capabilities, as ``runAsUser 0`` with
``allowPrivilegeEscalation false``, ``drop ALL`` and ``add [...]`` start a container process. Then the marker is
read from the host until the engine alerts on it. Needs root, ``unshare``, ``setpriv`` and ``mount``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from cli_support import wait_or_kill

REPO = Path(__file__).resolve().parents[2]
RULE = "Marker file read"
TOOLS = ("unshare", "setpriv", "mount")
# Inside the new namespaces: the host's /proc goes read-only to <host_root>/proc (as the chart's hostPath mount),
# the pod gets a /proc of its own PID namespace, then the engine starts with only the given capabilities.
POD = """set -e
mount --bind /proc "$HOST_ROOT/proc"
mount -o remount,bind,ro "$HOST_ROOT/proc"
mount -t proc proc /proc
exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set="$BOUNDING" -- "$@"
"""
CAP_BITS = {"SYS_PTRACE": 19, "SYS_RESOURCE": 24, "AUDIT_CONTROL": 30, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39}


def tools_missing() -> bool:
    return not all(shutil.which(tool) for tool in TOOLS)


def available_caps() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1], 16) for line in fh if line.startswith("CapBnd:"))


def granted(caps: list[str]) -> list[str]:
    """The capabilities of ``caps`` this machine can grant at all."""
    have = available_caps()
    return [c for c in caps if have >> CAP_BITS[c] & 1]


def marker_rule_values(work: Path) -> tuple[Path, Path]:
    """(a chart values file adding the marker rule, the marker file): the rule fires when the marker is read."""
    marker = work / "marker"
    marker.write_text("x")
    rule = [{"rule": RULE, "desc": "the test's marker file was opened for reading", "priority": "WARNING",
             "condition": f'evt.type in (open, openat, openat2) and evt.is_open_read = true and fd.name = "{marker}"',
             "output": "marker read (pid=%proc.pid vpid=%proc.vpid exepath=%proc.exepath ppid=%proc.ppid "
                       "pexepath=%proc.pexepath)"}]
    values = work / "rules-values.yaml"
    values.write_text(yaml.safe_dump({"rules": {"files": {"marker.yaml": yaml.safe_dump(rule)}}}))
    return values, marker


def node_pod(docs: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """The node DaemonSet of a render: ``caps`` (what every engine DaemonSet adds), ``spec`` (its pod spec),
    ``section`` (its ``sources.syscall`` config as rendered), ``config`` (that config with the pod's paths moved
    under ``work``, written there) and ``host`` (where the host's /proc goes)."""
    daemonsets = [d for d in docs if d["kind"] == "DaemonSet"]
    caps = {tuple(d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"])
            for d in daemonsets}
    assert len(caps) == 1, f"every engine DaemonSet adds the same capabilities: {caps}"
    spec = daemonsets[0]["spec"]["template"]["spec"]
    maps = [d for d in docs if d["kind"] == "ConfigMap"]
    config = yaml.safe_load(next(d for d in maps if d["metadata"]["name"].endswith("-config"))["data"]["engine-node.yaml"])
    section = config["sources"]["syscall"]
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
    return {"caps": list(next(iter(caps))), "spec": spec, "section": section, "config": path, "host": host}


def run_pod(pod: dict[str, Any], caps: list[str], marker: Path, *, timeout: float = 40.0) -> dict[str, Any]:
    """Start the engine in the pod's namespaces with ``caps``; read ``marker`` from the host until it alerts (or
    the engine exits); stop it with SIGTERM. Returns the exit code, the marker alerts and stderr."""
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in caps)])
    env = {**os.environ, "HOST_ROOT": str(pod["host"]), "BOUNDING": bounding}
    env.pop("FALCOPY_HOST_ROOT", None)
    spaces = ["--mount", "--cgroup"]
    if not pod["spec"]["hostNetwork"]:
        spaces.append("--net")
    if not pod["spec"]["hostPID"]:
        spaces.append("--pid")
    argv = ["unshare", *spaces, "--fork", "--kill-child", "--",
            "sh", "-c", POD, "pod", sys.executable, "-m", "falcoctl_py.cli.main", "engine", "run",
            "--config", str(pod["config"])]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    alerts: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None and not alerts:
            subprocess.run(["cat", str(marker)], capture_output=True, check=True)
            time.sleep(0.5)
            alerts = [a for a in map(json.loads, (x for x in list(lines) if x.startswith("{")))
                      if a.get("rule") == RULE]
    finally:
        engine = _engine_pid(proc.pid)
        if proc.poll() is None and engine:
            os.kill(engine, signal.SIGTERM)  # the engine handles SIGTERM (pid 1 of its namespace, or not)
        wait_or_kill(proc, 20)
        reader.join(5)
        err = proc.stderr.read() if proc.stderr else ""
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return {"code": proc.returncode, "alerts": alerts, "stderr": err}


def _engine_pid(unshare_pid: int) -> int | None:
    """The engine: the child of ``unshare`` (the shell execs setpriv, which execs the engine)."""
    try:
        with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as fh:
            children = fh.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def marker_fields(result: dict[str, Any]) -> dict[str, Any]:
    """The output fields of the first marker alert (the test fails, showing stderr, when there is none)."""
    assert result["alerts"], f"no alert (exit {result['code']}): {result['stderr'][-1500:]}"
    fields: dict[str, Any] = result["alerts"][0]["output_fields"]
    return fields
