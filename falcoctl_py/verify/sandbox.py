"""Containers without a container runtime, and network namespaces, for the tests that ask for them.

Owns: ``Sandbox`` — for a ``context.container`` test a container made the way a runtime makes one: a 64-hex id,
a containerd-style pod cgroup (``kubepods.slice/…/cri-containerd-<id>.scope`` under the cgroup2 mount found in
``/proc/self/mountinfo``), the OCI bundle ``config.json`` a runtime keeps under its state root (CRI annotations
with the test's container name and image, every capability in the bounding set as a privileged container has,
the namespaces), new mount/pid/uts/ipc/network namespaces entered by a sandbox agent that pivots into an
overlayfs root over the host's ``/`` (an image layer for the chain's executables and a writable upper layer, both
in a directory on tmpfs), a fresh ``/dev`` and ``/dev/shm``, and a pid-1 init agent that mounts the namespace's
``/proc``; for a ``clientServer`` test outside a container just a network namespace. Either way loopback is up
and every address the test's resources use is put on it (``ip`` run in the namespace), so documentation
addresses work without touching the host's network (a test whose ``connect``/``sendto`` steps name an IP
address gets a network namespace the same way); a host test whose ``exePath`` is taken on the host also gets a
mount namespace where a copy is bind-mounted over that path. ``close`` undoes all of it: processes killed through the
cgroup, cgroups, bundle and layers removed.

Must not: build the chain, perform resources or steps, or judge alerts; the engine finds the container only by
reading the bundle from the state root, as it reads a runtime's.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from falcoctl_py.verify.agent import (
    SB_IPC,
    SB_MOUNT,
    SB_NET,
    SB_PID,
    SB_ROOT,
    SB_UTS,
    Agent,
    AgentError,
    ControlServer,
)
from falcoctl_py.verify.chain import CAP_NAMES, TEST_ID_ENV
from falcoctl_py.verify.model import Container, Test

CRI_NAMESPACE = "k8s.io"
POD_NAMESPACE = "falcopy-verify"
SYS_MOUNT = 165
MS_BIND, MS_REMOUNT = 4096, 32


class SandboxError(OSError):
    """The sandbox could not be made (the test cannot run as described)."""


def cgroup2_root(mountinfo: str | None = None) -> Path:
    """Where the cgroup2 hierarchy is mounted (from ``/proc/self/mountinfo``)."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            return Path(left.split()[4].replace("\\040", " "))
    raise SandboxError("no cgroup2 hierarchy is mounted here: container tests need one (for the pod cgroup)")


# syscall step -> its destination-address argument
_DESTINATIONS = {"connect": "address", "sendto": "destAddr"}


def _ip_of(address: str) -> str | None:
    host = address.rpartition(":")[0].strip("[]")
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def addresses(test: Test) -> list[str]:
    """The IP addresses the test's clientServer resources listen on and its ``connect``/``sendto`` steps send to
    (``[v6]:port`` and ``v4:port``). A step's destination goes on the test's own loopback too, so a connection
    to a documentation address never leaves the host: a non-blocking connect is in progress, a blocking one is
    refused at once (instead of waiting out SYN retries), a datagram is sent."""
    hosts = [_ip_of(str(r.props.get("address", ""))) for r in test.resources
             if r.type == "clientServer" and r.props.get("l4Proto") != "unix"]
    hosts += [ip for s in test.steps if s.syscall in _DESTINATIONS
              and isinstance(dest := s.args.get(_DESTINATIONS[s.syscall]), str)
              and (ip := _ip_of(dest)) and not ipaddress.ip_address(ip).is_loopback]
    return list(dict.fromkeys(h for h in hosts if h))  # each once, in order


def shadowed(test: Test) -> list[str]:
    """The chain executables of a host test whose ``exePath`` is already taken on the host (a real ``ssh``, say):
    the process runs from a copy bind-mounted over that path in a mount namespace of the test's own, so the
    host's file is never written, and the path the kernel reports is the one the test gives."""
    if test.container is not None:
        return []
    return [p.exe_path for p in test.processes if p.exe_path and os.path.lexists(p.exe_path)]


def needs_sandbox(test: Test) -> bool:
    return test.container is not None or any(r.type == "clientServer" for r in test.resources) or \
        bool(addresses(test)) or bool(shadowed(test))


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return len(CAP_NAMES) - 1


def bundle_spec(*, cid: str, container: Container, pod_uid: str, cgroup: str, hostname: str,
                net: bool) -> dict[str, Any]:
    """The OCI runtime spec a CRI runtime writes for a privileged container of this name and image."""
    caps = [f"CAP_{n.upper()}" for n in CAP_NAMES[:_last_cap() + 1]]
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")] + ([{"type": "network"}] if net else [])
    return {
        "ociVersion": "1.1.0",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["/.falcopy/init"], "cwd": "/",
                    "env": [f"{k}={v}" for k, v in container.env.items()],
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")}},
        "root": {"path": "rootfs"},
        "hostname": hostname,
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                   {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}],
        "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": container.name,
            "io.kubernetes.cri.image-name": container.image,
            "io.kubernetes.cri.sandbox-name": f"{container.name}-{cid[:8]}",
            "io.kubernetes.cri.sandbox-namespace": POD_NAMESPACE,
            "io.kubernetes.cri.sandbox-uid": pod_uid,
        },
        "linux": {"namespaces": namespaces, "cgroupsPath": cgroup},
    }


class _SharedCgroups:
    """The parent cgroups side-by-side container tests share (``kubepods.slice`` and its QoS slice): made by the
    first test that needs one, removed when the last one leaves — and only when this run made it. A test that
    removed a parent it made while another test's pod still sat below it would fail (busy), and the other test,
    not having made it, would leave it behind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[Path, int] = {}
        self._made: set[Path] = set()

    def acquire(self, path: Path) -> None:
        with self._lock:
            if not path.is_dir():
                path.mkdir()
                self._made.add(path)
            self._users[path] = self._users.get(path, 0) + 1

    def release(self, path: Path) -> list[str]:
        with self._lock:
            left = self._users.pop(path) - 1
            if left:
                self._users[path] = left
                return []
            if path not in self._made:
                return []
            self._made.discard(path)
            try:
                path.rmdir()
            except OSError as exc:
                return [f"cgroup {path}: {exc.strerror}"]
            return []


SHARED_CGROUPS = _SharedCgroups()


class Sandbox:
    """One test's container or network namespace; ``parent`` is the agent the chain starts under."""

    def __init__(self, test: Test, *, layers: Path, state_root: Path) -> None:
        self.test = test
        self.container = test.container
        self.addresses = addresses(test)
        self.cid = secrets.token_hex(32)
        self.dir = layers / self.cid[:12]
        self.image, self.upper = self.dir / "image", self.dir / "upper"
        self.work, self.merged = self.dir / "work", self.dir / "merged"
        self.bundle = state_root / CRI_NAMESPACE / self.cid
        self.shadow = shadowed(test)
        self.binds: list[tuple[Path, str]] = []  # (copy, the host path it is mounted over) in the mount namespace
        self.cgroups: list[Path] = []  # this test's own (pod slice, container scope), outermost first
        self.parents: list[Path] = []  # shared with side-by-side tests (``SHARED_CGROUPS``), outermost first
        self.agent: Agent | None = None  # in the new namespaces (host pid namespace)
        self.init: Agent | None = None  # pid 1 of a container
        self.parent: Agent | None = None
        self._state_root = state_root

    @property
    def root_prefix(self) -> str | None:
        """How the runner reaches the container's ``/`` (None outside a container)."""
        if self.container is None or self.agent is None:
            return None
        return f"/proc/{self.agent.pid}/root"

    def place(self, inside: str, *, upper: bool) -> Path:
        """Where to write a chain executable that the container sees at ``inside`` (before ``enter``): the
        image layer (lower, as a base image's binary) or the upper layer (a file added to the container)."""
        layer = self.upper if upper else self.image
        host = layer / inside.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        return host

    def place_shadow(self, inside: str) -> Path:
        """Where to write the copy that is bind-mounted over the taken host path ``inside`` (before ``enter``)."""
        host = self.dir / "shadow" / inside.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        self.binds.append((host, inside))
        return host

    def prepare(self) -> None:
        """The layer directories (before the chain's executables are placed)."""
        if self.container is not None:
            for d in (self.image, self.upper, self.work, self.merged):
                d.mkdir(parents=True, mode=0o755)

    def enter(self, *, root: Agent, server: ControlServer, agent_bin: Path, env: dict[str, str],
              test_id: str) -> Agent:
        """Start the sandbox agent below ``root``, move it into the namespaces (and the pod cgroup), and return
        the agent the chain is spawned by."""
        token = secrets.token_hex(8)
        exe = self.dir / "falcopy-sandbox"
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(agent_bin, exe)
        pid = root.spawn(str(exe), ["falcopy-sandbox"], {**env, **server.env(token), TEST_ID_ENV: test_id})
        self.agent = server.accept(token)
        self.agent.spawned_as = pid
        flags = SB_NET | (SB_MOUNT if self.container is None and self.shadow else 0)
        hostname = ""
        if self.container is not None:
            flags |= SB_ROOT | SB_MOUNT | SB_PID | SB_UTS | SB_IPC
            hostname = self.cid[:12]
            self._pod_cgroup()
            self._write_bundle(hostname)
        self.agent.sandbox(flags, lower=str(self.image), upper=str(self.upper), work=str(self.work),
                           merged=str(self.merged), hostname=hostname,
                           bind=str(server.directory) if self.container is not None else "")
        self._add_addresses()
        if self.container is None:
            for copy, over in self.binds:
                done = self.agent.syscall(SYS_MOUNT, str(copy).encode() + b"\0", over.encode() + b"\0", None,
                                          MS_BIND, None)
                if done.ok:  # executable even when the copy's file system is mounted noexec
                    done = self.agent.syscall(SYS_MOUNT, None, over.encode() + b"\0", None, MS_REMOUNT | MS_BIND,
                                              None)
                if not done.ok:
                    raise SandboxError(done.errno, f"mounting the test's {over} over the host's: "
                                                   f"{os.strerror(done.errno)}")
            self.parent = self.agent
            return self.agent
        token = secrets.token_hex(8)
        self.agent.spawn("/.falcopy/init", ["/.falcopy/init"],
                         {**env, **self.container.env, **server.env(token), TEST_ID_ENV: test_id})
        self.init = server.accept(token)
        mounted = self.init.syscall(SYS_MOUNT, b"proc\0", b"/proc\0", b"proc\0", 0, None)
        if not mounted.ok:
            raise SandboxError(mounted.errno, f"mounting /proc in the container: {os.strerror(mounted.errno)}")
        self.parent = self.init
        return self.init

    def place_init(self, agent_bin: Path) -> None:
        if self.container is not None:
            shutil.copy2(agent_bin, self.place("/.falcopy/init", upper=False))

    def _pod_cgroup(self) -> None:
        assert self.agent is not None
        pod = str(uuid.uuid4())
        qos = "kubepods-besteffort"
        rel = Path("kubepods.slice", f"{qos}.slice", f"{qos}-pod{pod.replace('-', '_')}.slice",
                   f"cri-containerd-{self.cid}.scope")
        self.pod_uid = pod
        self.cgroup_path = f"{qos}-pod{pod.replace('-', '_')}.slice:cri-containerd:{self.cid}"
        at = cgroup2_root()
        for i, part in enumerate(rel.parts):
            at = at / part
            if i < 2:
                SHARED_CGROUPS.acquire(at)
                self.parents.append(at)
            elif not at.is_dir():
                at.mkdir()
                self.cgroups.append(at)
        (at / "cgroup.procs").write_text(str(self.agent.pid))

    def _write_bundle(self, hostname: str) -> None:
        assert self.container is not None
        self.bundle.mkdir(parents=True)
        spec = bundle_spec(cid=self.cid, container=self.container, pod_uid=self.pod_uid, cgroup=self.cgroup_path,
                           hostname=hostname, net=True)
        (self.bundle / "config.json").write_bytes(orjson.dumps(spec, option=orjson.OPT_INDENT_2))
        (self.bundle / "rootfs").mkdir()

    def _add_addresses(self) -> None:
        assert self.agent is not None
        cmds = []
        for host in self.addresses:
            ip = ipaddress.ip_address(host)
            if ip.is_loopback:
                continue
            cmds.append(f"addr add {ip}/{ip.max_prefixlen} dev lo" + (" nodad" if ip.version == 6 else ""))
        if not cmds:
            return
        ip_bin = shutil.which("ip")
        if ip_bin is None:
            raise SandboxError("clientServer addresses need the ip command (Debian: iproute2)")
        done = subprocess.run(["nsenter", f"--net=/proc/{self.agent.pid}/ns/net", ip_bin, "-batch", "-"],
                              input="\n".join(cmds) + "\n", capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SandboxError(f"adding {', '.join(self.addresses)} to the test's loopback: {done.stderr.strip()}")

    def close(self, root: Agent) -> list[str]:
        """Stop what is left, remove cgroups, bundle and layers; what could not be removed."""
        left: list[str] = []
        if self.init is not None:
            self.init.quit()  # pid 1 gone: the kernel kills whatever else is in its pid namespace
            if self.agent is not None:
                for child in list(self.agent.children):
                    try:
                        self.agent.reap(child)
                    except (OSError, AgentError):
                        pass
        if self.agent is not None:
            self.agent.quit()
        if self.cgroups:
            left += _empty_cgroup(self.cgroups[-1])
        if self.agent is not None and self.agent.spawned_as is not None:
            try:
                root.reap(self.agent.spawned_as)
            except (OSError, AgentError):
                pass
        for cg in reversed(self.cgroups):
            try:
                cg.rmdir()
            except OSError as exc:
                left.append(f"cgroup {cg}: {exc.strerror}")
        self.cgroups.clear()
        for cg in reversed(self.parents):
            left += SHARED_CGROUPS.release(cg)
        self.parents.clear()
        shutil.rmtree(self.bundle, ignore_errors=True)
        for d in (self.bundle.parent,):
            try:
                d.rmdir()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.exists():
            left.append(f"{self.dir}: still there")
        return left


def _empty_cgroup(cg: Path, *, timeout: float = 5.0) -> list[str]:
    """Kill every process still in ``cg`` and wait until it is empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        except OSError:
            return []
        if not pids:
            return []
        if (cg / "cgroup.kill").exists():
            (cg / "cgroup.kill").write_text("1")
        else:
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        time.sleep(0.02)
    return [f"cgroup {cg}: processes still running after {timeout:.0f}s"]
