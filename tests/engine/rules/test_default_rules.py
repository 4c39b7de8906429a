"""The bundled default ruleset fires on the activity it describes and stays quiet on look-alikes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.events.k8s_audit import AuditEvent, DecodedEvent
from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent
from engine.rules import Ruleset, load_rules
from engine.sources.k8s_audit.decode import parse_rfc3339_ns

DEFAULT = Path(__file__).resolve().parents[3] / "engine" / "default_rules" / "falco_py_rules.yaml"
CONTAINER = ContainerInfo(
    id="abcdef123456", name="web", image_repository="nginx", pod_name="web-1", pod_namespace="prod"
)
SHIM = ProcessInfo(pid=1, name="containerd-shim")
O_RDONLY, O_WRONLY = 0, 1


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    rs = load_rules([DEFAULT], rule_matching="all").ruleset
    assert rs is not None
    return rs


def _names(rs: Ruleset, event: Any) -> list[str]:
    return [r.name for r in rs.evaluate(event)]


def _exec(
    name: str, exepath: str, *, container: ContainerInfo | None = CONTAINER, parent: ProcessInfo = SHIM
) -> SyscallEvent:
    return SyscallEvent(
        type="execve",
        proc=ProcessInfo(pid=5, name=name, exepath=exepath, cmdline=name, parent=parent),
        container=container,
    )


def _open(program: str, path: str, flags: int) -> SyscallEvent:
    return SyscallEvent(
        type="openat",
        args={"flags": flags},
        proc=ProcessInfo(pid=7, name=program),
        fd=FdInfo(num=3, name=path, type="file", open_flags=flags),
    )


def test_shell_in_container(ruleset: Ruleset) -> None:
    event = _exec("bash", "/bin/bash")
    assert _names(ruleset, event) == ["FPY Shell Spawned In Container"]
    text, fields = ruleset.evaluate(event)[0].formatter.format(event)
    assert "shell=bash parent=containerd-shim" in text and fields["k8s.pod.name"] == "web-1"
    assert _names(ruleset, _exec("bash", "/bin/bash", parent=ProcessInfo(pid=2, name="sh"))) == []
    assert _names(ruleset, _exec("nginx", "/usr/sbin/nginx")) == []


def test_shadow_read(ruleset: Ruleset) -> None:
    assert _names(ruleset, _open("cat", "/etc/shadow", O_RDONLY)) == [
        "FPY Shadow File Read By Unexpected Program"
    ]
    assert _names(ruleset, _open("sshd", "/etc/shadow", O_RDONLY)) == []


def test_write_below_etc(ruleset: Ruleset) -> None:
    assert _names(ruleset, _open("curl", "/etc/hosts", O_WRONLY)) == ["FPY Write Below Etc"]
    assert _names(ruleset, _open("dpkg", "/etc/hosts", O_WRONLY)) == []
    assert _names(ruleset, _open("curl", "/etc/hosts", O_RDONLY)) == []


def test_program_from_temporary_directory(ruleset: Ruleset) -> None:
    assert _names(ruleset, _exec("x", "/dev/shm/x", container=None)) == [
        "FPY Program Run From Temporary Directory"
    ]
    assert _names(ruleset, _exec("ls", "/usr/bin/ls", container=None)) == []


def test_ptrace_attach(ruleset: Ruleset) -> None:
    attach = SyscallEvent(
        type="ptrace", args={"request": "PTRACE_ATTACH"}, proc=ProcessInfo(pid=6, name="gdb")
    )
    peek = SyscallEvent(
        type="ptrace", args={"request": "PTRACE_PEEKDATA"}, proc=ProcessInfo(pid=6, name="gdb")
    )
    assert _names(ruleset, attach) == ["FPY Ptrace Attach"]
    assert _names(ruleset, peek) == []


def _audit(verb: str, resource: str, *, user: str = "alice", code: int = 200, **extra: Any) -> AuditEvent:
    obj: dict[str, Any] = {
        "kind": "Event",
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": user},
        "objectRef": {"resource": resource, "namespace": "prod", "name": "x"},
        "responseStatus": {"code": code},
        "stageTimestamp": "2024-01-01T00:00:00Z",
    }
    obj.update(extra)
    return DecodedEvent(obj, ts=parse_rfc3339_ns(obj["stageTimestamp"]))


def _pod(privileged: bool, host_path: str | None, namespace: str = "prod") -> AuditEvent:
    spec: dict[str, Any] = {
        "containers": [{"name": "a", "image": "busybox", "securityContext": {"privileged": privileged}}]
    }
    if host_path:
        spec["volumes"] = [{"name": "h", "hostPath": {"path": host_path}}]
    event = _audit("create", "pods", code=201, requestObject={"spec": spec})
    event.obj["objectRef"]["namespace"] = namespace
    return event


def test_pod_creation_rules(ruleset: Ruleset) -> None:
    assert _names(ruleset, _pod(True, None)) == ["FPY Privileged Pod Created"]
    assert _names(ruleset, _pod(False, "/etc")) == ["FPY Pod Mounts Sensitive Host Path"]
    assert _names(ruleset, _pod(False, "/data")) == []
    assert _names(ruleset, _pod(True, "/", namespace="kube-system")) == []


def test_exec_secret_binding_and_anonymous(ruleset: Ruleset) -> None:
    exec_event = _audit(
        "create",
        "pods",
        objectRef={"resource": "pods", "subresource": "exec", "name": "p", "namespace": "prod"},
    )
    assert _names(ruleset, exec_event) == ["FPY Exec Or Attach Into Pod"]
    assert _names(ruleset, _audit("get", "secrets")) == ["FPY Secret Read By Non-System User"]
    assert _names(ruleset, _audit("get", "secrets", user="system:serviceaccount:prod:app")) == []
    assert _names(ruleset, _audit("get", "secrets", code=403)) == []
    binding = _audit(
        "create",
        "clusterrolebindings",
        requestObject={
            "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "mallory"}],
        },
    )
    assert _names(ruleset, binding) == ["FPY Binding To Cluster Admin"]
    anon = _audit(
        "list",
        "pods",
        user="system:anonymous",
        requestURI="/api/v1/pods",
        annotations={"authorization.k8s.io/decision": "allow"},
    )
    assert _names(ruleset, anon) == ["FPY Anonymous Request Allowed"]
    probe = _audit(
        "get",
        "",
        user="system:anonymous",
        requestURI="/healthz",
        annotations={"authorization.k8s.io/decision": "allow"},
    )
    assert _names(ruleset, probe) == []
