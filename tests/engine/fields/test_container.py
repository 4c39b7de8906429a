"""``container.*`` and ``k8s.*`` extractors on syscall events (the container plugin's fields)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.events.syscall import ProcessInfo
from engine.fields import field_classes, plugin_versions


def test_container_fields(make_event: Any, field: Any, pod_container: Any, ts: int) -> None:
    ev = make_event(container=pod_container)
    assert field(ev, "container.id") == "0123456789ab"
    assert len(field(ev, "container.full_id")) == 64
    assert field(ev, "container.name") == "web"
    assert field(ev, "container.image") == "docker.io/library/nginx:1.25"
    assert field(ev, "container.image.repository") == "docker.io/library/nginx"
    assert field(ev, "container.image.tag") == "1.25"
    assert field(ev, "container.privileged") is True
    assert field(ev, "container.type") == "containerd"
    assert field(ev, "container.start_ts") == ts - 60 * 10**9
    assert field(ev, "container.duration") == 60 * 10**9
    assert field(ev, "container.healthcheck") == "curl -f http://localhost/"


def test_host_process(make_event: Any, field: Any) -> None:
    ev = make_event(proc=ProcessInfo(pid=1, name="systemd"))
    assert field(ev, "container.id") == "host"
    assert field(ev, "container.name") == "host"
    assert field(ev, "container.image.repository") is None
    assert field(ev, "container.privileged") is None
    assert field(ev, "container.mount.dest", "/proc*") is None
    assert field(ev, "k8s.pod.name") is None and field(ev, "k8s.ns.name") is None


def test_container_id_is_short(make_event: Any, field: Any, pod_container: Any) -> None:
    pod_container.id = "f" * 64
    assert field(make_event(container=pod_container), "container.id") == "f" * 12


@pytest.mark.parametrize(("arg", "dest"), [("/var/run/docker.sock", "/var/run/docker.sock"),
                                           ("/proc*", "/host/proc"), ("/etc", "N/A"), ("1", "/host/proc")])
def test_mount_lookup_by_source_glob(make_event: Any, field: Any, pod_container: Any, arg: str,
                                     dest: str) -> None:
    assert field(make_event(container=pod_container), "container.mount.dest", arg) == dest


def test_mount_details(make_event: Any, field: Any, pod_container: Any) -> None:
    ev = make_event(container=pod_container)
    assert field(ev, "container.mount.rdwr", "/proc*") == "false"
    assert field(ev, "container.mount", "/proc/sys") == "/proc/sys:/host/proc:ro:false:rprivate"
    assert field(ev, "container.mounts").count(",") == 1


def test_k8s_fields(make_event: Any, field: Any, pod_container: Any) -> None:
    ev = make_event(container=pod_container)
    assert field(ev, "k8s.pod.name") == "web-0"
    assert field(ev, "k8s.ns.name") == "prod"
    assert field(ev, "k8s.pod.uid") == "uid-1"
    assert field(ev, "k8s.pod.label", "app") == "web"
    assert field(ev, "k8s.pod.label", "nope") is None
    assert field(ev, "k8s.pod.labels") == "app:web, tier:front"
    assert field(ev, "k8s.pod.ip") == "10.1.2.3"


def test_plugin_compatibility_declared() -> None:
    assert plugin_versions()["container"] == "0.4.0"
    declaring = {fc.name for fc in field_classes() if fc.plugin == "container"}
    assert {"container", "k8s"} <= declaring
