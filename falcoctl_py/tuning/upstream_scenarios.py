"""Guard scenarios for the upstream Falco rules: known-bad activity, written here, each modelled on a case of
Falco's own regression suite (falcosecurity/testing ``tests/k8saudit``) or on the attack a stable syscall rule
describes, and stored as data with its provenance under ``profiles/guard/``.

Owns: building those events (our own audit events and syscall records; no upstream file is copied) and writing
``profiles/guard/upstream-k8s-audit.yaml`` and ``upstream-syscall.yaml``. The files are generated, never edited by
hand: ``python -m falcoctl_py.tuning.upstream_scenarios --write`` regenerates them; a test fails when they are
stale, and another checks that each scenario raises its rule under the unmodified upstream files.

Must not: read the upstream material at run time (the package must work without it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.tuning.scenarios import (
    MINER,
    O_RDONLY,
    SHIM,
    T0,
    WEB,
    _proc,
    audit_event,
    execve,
    openat,
    pod,
    ptrace,
)

PROFILES = Path(__file__).resolve().parents[2] / "profiles" / "guard"
SUITE = "modelled on falcosecurity/testing tests/k8saudit case "
ATTACKER = "system:serviceaccount:default:compromised"


def _started(ev: dict[str, Any]) -> dict[str, Any]:
    ev["stage"] = "ResponseStarted"
    return ev


def audit_scenarios() -> list[dict[str, Any]]:
    def sc(name: str, rule: str, case: str, desc: str, event: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "source": "k8s_audit", "expect_rules": [rule], "desc": desc,
                "provenance": SUITE + case, "events": [event]}

    return [
        sc("upstream-privileged-miner", "Create Privileged Pod", "TestK8SAudit_Legacy_CreatePrivilegedPod",
           "a compromised service account starts a privileged miner",
           audit_event(n=101, verb="create", user=ATTACKER, resource="pods", namespace="default", code=201,
                       request=pod(ns="default", image="docker.io/evil/xmrig:latest", privileged=True))),
        sc("upstream-sensitive-mount", "Create Sensitive Mount Pod", "TestK8SAudit_Legacy_CreateSensitiveMountPod",
           "a pod mounts /etc from the node", audit_event(
               n=102, verb="create", user=ATTACKER, resource="pods", namespace="default", code=201,
               request=pod(ns="default", image="docker.io/library/alpine:3.20", host_path="/etc"))),
        sc("upstream-exec-into-pod", "Attach/Exec Pod", "TestK8SAudit_Legacy_PodAttach",
           "a stolen token opens a shell in a payments pod", _started(audit_event(
               n=103, verb="create", user=ATTACKER, resource="pods", namespace="payments", name="api-0",
               subresource="exec", code=101, query="command=sh&stdin=true&tty=true"))),
        sc("upstream-secret-read", "K8s Secret Get Successfully", "TestK8SAudit_Legacy_CreateSecret",
           "a compromised service account reads a database secret", audit_event(
               n=104, verb="get", user=ATTACKER, resource="secrets", namespace="payments", name="db")),
        sc("upstream-anonymous", "Anonymous Request Allowed", "TestK8SAudit_Legacy_AnonymousUser",
           "an anonymous request is allowed", audit_event(
               n=105, verb="get", user="system:anonymous", resource="pods", namespace="default",
               groups=("system:unauthenticated",))),
        sc("upstream-pod-in-kube-system", "Pod Created in Kube Namespace",
           "TestK8SAudit_Legacy_CreatePodInKubeSystemNamespace", "an unprivileged pod is planted in kube-system",
           audit_event(n=106, verb="create", user=ATTACKER, resource="pods", namespace="kube-system", code=201,
                       request=pod(ns="kube-system", image="docker.io/evil/backdoor:1"))),
        sc("upstream-deployment", "K8s Deployment Created", "TestK8SAudit_Legacy_CreateDeployment",
           "a compromised service account deploys a workload", audit_event(
               n=107, verb="create", user=ATTACKER, resource="deployments", namespace="default", group="apps",
               name="miner", code=201)),
    ]


def syscall_scenarios() -> list[dict[str, Any]]:
    web_py = _proc(2101, "/usr/local/bin/python3.12", ["app.py"], parent=SHIM, uid=1000, container=WEB, user="app")
    impostor = _proc(2401, "/usr/local/bin/backup-agent", ["--all"], parent=SHIM, container=MINER, user="root")
    runc = _proc(880, "/usr/bin/runc", ["exec"], parent=SHIM)
    shell = replace(_proc(2501, "/bin/bash", [], parent=runc, container=WEB, user="root"), tty=34816)
    gdb = _proc(3003, "/usr/bin/gdb", ["-p", "812"], parent=web_py, uid=0, container=WEB, user="root")

    def sc(name: str, rule: str, desc: str, event: Any) -> dict[str, Any]:
        event.num = 1  # upstream rules skip event number 0
        return {"name": name, "source": "syscall", "expect_rules": [rule], "desc": desc,
                "provenance": f"the attack the upstream stable rule '{rule}' describes (falco_rules.yaml)",
                "events": [event.to_dict()]}

    return [
        sc("upstream-web-app-reads-shadow", "Read sensitive file untrusted", "an exploited web app reads /etc/shadow",
           openat(T0 + 1, web_py, "/etc/shadow", O_RDONLY, WEB)),
        sc("upstream-impostor-reads-shadow", "Read sensitive file untrusted",
           "a miner image ships a binary named like the backup agent and reads /etc/shadow",
           openat(T0 + 2, impostor, "/etc/shadow", O_RDONLY, MINER)),
        sc("upstream-terminal-shell", "Terminal shell in container",
           "an attacker with a stolen token opens an interactive shell in the web container",
           execve(T0 + 3, shell, WEB)),
        sc("upstream-ptrace-attach", "PTRACE attached to process", "gdb attaches to another process in a container",
           ptrace(T0 + 4, gdb, 812, WEB)),
    ]


def render_files() -> dict[Path, bytes]:
    header = ("# Guard scenarios for the upstream Falco rules: our own events, each with its provenance.\n"
              "# Generated by `python -m falcoctl_py.tuning.upstream_scenarios --write`; do not edit by hand.\n")
    out = {}
    for name, scenarios in (("upstream-k8s-audit.yaml", audit_scenarios()),
                            ("upstream-syscall.yaml", syscall_scenarios())):
        out[PROFILES / name] = (header + yaml.safe_dump({"scenarios": scenarios}, sort_keys=False,
                                                        width=120)).encode()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the upstream guard scenarios under profiles/guard.")
    ap.add_argument("--write", action="store_true", help="write the files (default: only check they are current)")
    args = ap.parse_args(argv)
    stale = [p for p, content in render_files().items() if not p.exists() or p.read_bytes() != content]
    for path in stale:
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(render_files()[path])
        print(("wrote " if args.write else "stale: ") + path.name)
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
