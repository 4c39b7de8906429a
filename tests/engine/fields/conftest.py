"""Builders for syscall events used by the syscall field-table tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.events.syscall import ContainerInfo, ProcessInfo, SyscallEvent
from engine.fields import lookup

TS = 1_700_000_000_123_456_789


def chain() -> ProcessInfo:
    """systemd(1) -> containerd-shim(50) -> bash(100, session/group leader) -> python3(101) -> cat(102)."""
    init = ProcessInfo(pid=1, vpid=1, name="systemd", exe="/sbin/init", exepath="/usr/lib/systemd/systemd",
                       uid=0, start_ts=TS - 10**12)
    shim = ProcessInfo(pid=50, ppid=1, vpid=50, name="containerd-shim", exe="containerd-shim",
                       exepath="/usr/bin/containerd-shim-runc-v2", parent=init, uid=0)
    shell = ProcessInfo(pid=100, ppid=50, vpid=1, name="bash", exe="bash", exepath="/bin/bash", args=["-i"],
                        cmdline="bash -i", sid=100, pgid=100, vpgid=1, parent=shim, uid=0,
                        container_id="0123456789ab", env=["PATH=/bin", "SECRET=s3"], start_ts=TS - 5 * 10**9)
    py = ProcessInfo(pid=101, ppid=100, vpid=7, name="python3", exe="python3", exepath="/usr/bin/python3.12",
                     args=["app.py"], sid=100, pgid=101, vpgid=7, parent=shell, uid=1000,
                     container_id="0123456789ab", start_ts=TS - 2 * 10**9)
    return ProcessInfo(pid=102, tid=102, ppid=101, vpid=8, vtid=8, name="cat", exe="cat", exepath="/usr/bin/cat",
                       args=["/etc/shadow"], cmdline="cat /etc/shadow", env=["HOME=/root", "LANG=C"],
                       cwd="/srv/app", uid=0, gid=0, euid=0, loginuid=0xFFFFFFFF, tty=34816, sid=100,
                       pgid=101, vpgid=7, start_ts=TS - 10**9, cap_effective=(1 << 21) | (1 << 0),
                       cap_permitted=(1 << 40) | (1 << 7), container_id="0123456789ab", parent=py)


def container() -> ContainerInfo:
    return ContainerInfo(id="0123456789ab", full_id="0123456789ab" + "c" * 52, name="web",
                         image="docker.io/library/nginx:1.25", image_repository="docker.io/library/nginx",
                         image_tag="1.25", privileged=True, runtime="containerd", pod_name="web-0",
                         pod_namespace="prod", pod_uid="uid-1", pod_labels={"app": "web", "tier": "front"},
                         pod_ip="10.1.2.3", start_ts=TS - 60 * 10**9,
                         mounts=[{"source": "/var/run/docker.sock", "dest": "/var/run/docker.sock", "mode": "",
                                  "rdwr": True, "propagation": "rprivate"},
                                 {"source": "/proc/sys", "dest": "/host/proc", "mode": "ro", "rdwr": False,
                                  "propagation": "rprivate"}],
                         healthcheck=["curl", "-f", "http://localhost/"])


@pytest.fixture
def make_event() -> Callable[..., SyscallEvent]:
    def build(type: str = "openat", **kw: Any) -> SyscallEvent:
        kw.setdefault("proc", chain())
        kw.setdefault("ts", TS)
        kw.setdefault("tid", 102)
        kw.setdefault("pid", 102)
        return SyscallEvent(type=type, **kw)
    return build


@pytest.fixture
def field() -> Callable[..., Any]:
    """``field(event, "proc.aname", 2)``: extract through the registry, as the compiler does."""
    def get(event: SyscallEvent, name: str, arg: Any = None) -> Any:
        spec = lookup("syscall", name)
        assert spec is not None, f"{name} is not in the syscall field table"
        return spec.extract(event, arg)
    return get


@pytest.fixture
def pod_container() -> ContainerInfo:
    return container()


@pytest.fixture
def ts() -> int:
    return TS
