"""Field table for ``container.*``: the container the event's process runs in (the container plugin's fields).

Owns: the ``container`` field class, which also satisfies rules' ``required_plugin_versions`` for the Falco
``container`` plugin (``CONTAINER_PLUGIN_VERSION``). Semantics follow that plugin: a process outside every
container has ``container.id`` and ``container.name`` ``host`` and the other fields missing; ``container.id`` is
the 12-character short id; ``container.mount.*[SOURCE]`` look a mount up by its source (shell-style glob) and
give ``N/A`` when the container has no such mount (rules compare against that word).

Must not: ask a container runtime anything; every value comes from ``SyscallEvent.container``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import orjson

from engine.events.syscall import HOST_CONTAINER_ID
from engine.fields.base import ArgKind, ArgMode, Extractor, FieldClass, FieldSpec, FieldType

CONTAINER_PLUGIN = "container"
CONTAINER_PLUGIN_VERSION = "0.4.0"
NO_MOUNT = "N/A"
T = FieldType


def _id(event: Any, _arg: Any) -> str | None:
    if event.container is not None:
        short: str = event.container.id[:12]
        return short
    return event.proc.container_id[:12] if event.proc is not None else None


def _name(event: Any, _arg: Any) -> str | None:
    if event.container is not None:
        name: str | None = event.container.name
        return name
    return HOST_CONTAINER_ID if event.proc is not None and event.proc.container_id == HOST_CONTAINER_ID else None


def _attr(name: str) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        c = event.container
        return None if c is None else getattr(c, name)
    return extract


def _probe_text(name: str) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        c = event.container
        value = None if c is None else getattr(c, name)
        return None if not value else " ".join(value)
    return extract


def _mount_text(m: dict[str, Any]) -> str:
    rdwr = "true" if m.get("rdwr", True) else "false"
    return f"{m.get('source', '')}:{m.get('dest', '')}:{m.get('mode', '')}:{rdwr}:{m.get('propagation', '')}"


def _find_mount(event: Any, arg: Any) -> dict[str, Any] | None:
    c = event.container
    if c is None or arg is None:
        return None
    text = str(arg)
    if text.isdigit():
        index = int(text)
        return c.mounts[index] if index < len(c.mounts) else None
    for mount in c.mounts:
        if fnmatchcase(str(mount.get("source", "")), text):
            found: dict[str, Any] = mount
            return found
    return None


def _mount(key: str | None) -> Any:
    def extract(event: Any, arg: Any) -> Any:
        if event.container is None:
            return None
        mount = _find_mount(event, arg)
        if mount is None:
            return NO_MOUNT
        if key is None:
            return _mount_text(mount)
        value = mount.get(key)
        if key == "rdwr":
            return "true" if value in (None, True) else "false"
        return NO_MOUNT if value is None else str(value)
    return extract


def _mounts(event: Any, _arg: Any) -> str | None:
    c = event.container
    if c is None or not c.mounts:
        return None
    return ",".join(_mount_text(m) for m in c.mounts)


def label_extractors(attr: str) -> tuple[Extractor, Extractor]:
    """Extractors for one label and for all labels of the ``ContainerInfo`` mapping ``attr`` (``labels`` for the
    container's, ``pod_labels`` for its pod's): ``x.label[KEY]`` and ``x.labels`` as ``k:v, k:v``."""

    def one(event: Any, arg: Any) -> str | None:
        c = event.container
        return None if c is None or arg is None else getattr(c, attr).get(str(arg))

    def every(event: Any, _arg: Any) -> str | None:
        c = event.container
        labels = getattr(c, attr) if c is not None else None
        return ", ".join(f"{k}:{v}" for k, v in labels.items()) if labels else None

    return one, every


_label, _labels = label_extractors("labels")


def _duration(event: Any, _arg: Any) -> int | None:
    c = event.container
    if c is None or not c.start_ts:
        return None
    age: int = max(0, event.ts - c.start_ts)
    return age


def _cni(event: Any, _arg: Any) -> str | None:
    c = event.container
    ip = None if c is None else (c.ip or c.pod_ip)
    return None if ip is None else orjson.dumps({"ips": [ip]}).decode()


def _f(name: str, ftype: FieldType, desc: str, extract: Any, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=ftype, desc=desc, extract=extract, **kw)


_KEY_ARG = {"arg": ArgMode.REQUIRED, "arg_kind": ArgKind.KEY}

_FIELDS = (
    _f("container.id", T.STRING, "container id (12 characters), or 'host' outside containers.", _id),
    _f("container.full_id", T.STRING, "full container id, or 'host'.",
       lambda e, a: (e.container.full_id or e.container.id) if e.container else _id(e, a)),
    _f("container.name", T.STRING, "container name, or 'host' outside containers.", _name),
    _f("container.image", T.STRING, "image name as the container was started with it.", _attr("image")),
    _f("container.image.id", T.STRING, "image id.", _attr("image_id")),
    _f("container.type", T.STRING, "container runtime (docker, containerd, cri-o, podman...).", _attr("runtime")),
    _f("container.privileged", T.BOOL, "true for a privileged container.", _attr("privileged")),
    _f("container.mounts", T.STRING, "every mount as source:dest:mode:rdwr:propagation, comma separated.",
       _mounts),
    _f("container.mount", T.STRING, "one mount (by index or source glob) as source:dest:mode:rdwr:propagation.",
       _mount(None), **_KEY_ARG),
    _f("container.mount.source", T.STRING, "source of the mount with the given source glob or index.",
       _mount("source"), **_KEY_ARG),
    _f("container.mount.dest", T.STRING, "destination of the mount with the given source (glob) or index.",
       _mount("dest"), **_KEY_ARG),
    _f("container.mount.mode", T.STRING, "mode of the mount with the given source or index.", _mount("mode"),
       **_KEY_ARG),
    _f("container.mount.rdwr", T.STRING, "true when the mount with the given source or index is writable.",
       _mount("rdwr"), **_KEY_ARG),
    _f("container.mount.propagation", T.STRING, "propagation of the mount with the given source or index.",
       _mount("propagation"), **_KEY_ARG),
    _f("container.image.repository", T.STRING, "image repository (without the tag).", _attr("image_repository")),
    _f("container.image.tag", T.STRING, "image tag.", _attr("image_tag")),
    _f("container.image.digest", T.STRING, "image digest.", _attr("image_digest")),
    _f("container.healthcheck", T.STRING, "the image's healthcheck command.", _probe_text("healthcheck")),
    _f("container.liveness_probe", T.STRING, "the pod's liveness probe command.", _probe_text("liveness_probe")),
    _f("container.readiness_probe", T.STRING, "the pod's readiness probe command.",
       _probe_text("readiness_probe")),
    _f("container.start_ts", T.ABSTIME, "container start time (ns since the epoch).", _attr("start_ts")),
    _f("container.duration", T.RELTIME, "nanoseconds since the container started.", _duration),
    _f("container.ip", T.STRING, "container IP address.", lambda e, a: None if e.container is None
       else (e.container.ip or e.container.pod_ip)),
    _f("container.cni.json", T.STRING, "CNI result as JSON (addresses only).", _cni),
    _f("container.host_pid", T.BOOL, "true when the container shares the host pid namespace.", _attr("host_pid")),
    _f("container.host_network", T.BOOL, "true when the container shares the host network.",
       _attr("host_network")),
    _f("container.host_ipc", T.BOOL, "true when the container shares the host IPC namespace.", _attr("host_ipc")),
    _f("container.user", T.STRING, "user the container was started as.", _attr("user")),
    _f("container.label", T.STRING, "one container label.", _label, dotted_arg=True, **_KEY_ARG),
    _f("container.labels", T.STRING, "every container label as key:value, comma separated.", _labels),
)

FIELD_CLASSES = (
    FieldClass(name="container", sources=("syscall",), fields=_FIELDS, plugin=CONTAINER_PLUGIN,
               plugin_version=CONTAINER_PLUGIN_VERSION,
               desc="The container of the event's process (fields of the Falco container plugin)."),
)
