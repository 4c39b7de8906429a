"""Container metadata from the container runtime's own state on the node: the OCI bundle it keeps per container.

Owns: finding a container's bundle by id under the configured state roots (containerd keeps
``<root>/<namespace>/<id>/config.json``, the OCI runtime spec it started the container with; the default root is
containerd's ``/run/containerd/io.containerd.runtime.v2.task``) and turning that spec into ``ContainerInfo``:
name, image and pod from the CRI annotations (``io.kubernetes.cri.container-name``, ``…image-name``,
``…sandbox-name|namespace|uid``; nerdctl's ``nerdctl/name`` for a plain container), ``privileged`` from the
process's capabilities (every capability the kernel has in the bounding set, as a privileged CRI container gets),
the hostname, mounts, and host namespaces from the spec's ``linux.namespaces``. Lookups are cached per id (misses
for a few seconds, so a container that just started is found soon after).

Must not: talk to a runtime's API or socket, write anything, or read ``/proc`` (ids come from cgroups).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypedDict, cast

import orjson

from engine.events.syscall import ContainerInfo
from engine.state.containers import CgroupMatch

DEFAULT_ROOTS = ("/run/containerd/io.containerd.runtime.v2.task",)
_MISS_TTL = 2.0
_ANN_NAME = ("io.kubernetes.cri.container-name", "io.kubernetes.container.name", "nerdctl/name")
_ANN_IMAGE = ("io.kubernetes.cri.image-name", "org.opencontainers.image.ref.name", "nerdctl/image")


class OciMount(TypedDict, total=False):
    source: str
    destination: str
    type: str
    options: list[str]


class OciNamespace(TypedDict, total=False):
    type: str
    path: str


class OciLinux(TypedDict, total=False):
    namespaces: list[OciNamespace]


class OciCapabilities(TypedDict, total=False):
    bounding: list[str]


class OciUser(TypedDict, total=False):
    uid: int


class OciProcess(TypedDict, total=False):
    capabilities: OciCapabilities
    user: OciUser


class OciSpec(TypedDict, total=False):
    """The members of an OCI runtime spec (``config.json``) read here; a spec has many more."""

    annotations: dict[str, str]
    process: OciProcess
    linux: OciLinux
    mounts: list[OciMount]


def _last_cap() -> int:
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text().strip())
    except (OSError, ValueError):
        return 40


def _split_image(image: str) -> tuple[str, str | None]:
    repo, _, digest = image.partition("@")
    slash, colon = repo.rfind("/"), repo.rfind(":")
    if colon > slash:
        return repo[:colon], repo[colon + 1:]
    return repo, None if digest else "latest"


def info_from_spec(cid: str, spec: OciSpec, *, last_cap: int | None = None) -> ContainerInfo:
    """``ContainerInfo`` for container ``cid`` (full id) from its OCI runtime spec (``config.json``)."""
    ann = spec.get("annotations") or {}
    name = next((ann[k] for k in _ANN_NAME if ann.get(k)), None)
    image = next((ann[k] for k in _ANN_IMAGE if ann.get(k)), None)
    process = spec.get("process") or {}
    bounding = set(((process.get("capabilities") or {}).get("bounding")) or ())
    caps_all = (last_cap if last_cap is not None else _last_cap()) + 1
    namespaces = {n.get("type") for n in (spec.get("linux") or {}).get("namespaces") or () if not n.get("path")}
    mounts = [{"source": m.get("source", ""), "dest": m.get("destination", ""), "mode": "",
               "rdwr": "ro" not in (m.get("options") or ()), "propagation": ""}
              for m in spec.get("mounts") or () if m.get("type") == "bind"]
    repo, tag = _split_image(image) if image else (None, None)
    user = process.get("user") or {}
    return ContainerInfo(
        id=cid[:12], full_id=cid, name=name, image=image, image_repository=repo, image_tag=tag,
        privileged=len(bounding) >= caps_all, runtime="containerd",
        pod_name=ann.get("io.kubernetes.cri.sandbox-name"), pod_namespace=ann.get("io.kubernetes.cri.sandbox-namespace"),
        pod_uid=ann.get("io.kubernetes.cri.sandbox-uid"), pod_sandbox_id=ann.get("io.kubernetes.cri.sandbox-id"),
        host_pid="pid" not in namespaces, host_network="network" not in namespaces, host_ipc="ipc" not in namespaces,
        user=str(user["uid"]) if "uid" in user else None, mounts=mounts,
    )


class RuntimeState:
    """Looks containers up by (short or full) id in the runtime state roots."""

    def __init__(self, roots: Sequence[str] = DEFAULT_ROOTS, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.roots = tuple(roots)
        self._clock = clock
        self._found: dict[str, ContainerInfo] = {}
        self._missed: dict[str, float] = {}

    def _bundle(self, cid: str) -> Path | None:
        for root in self.roots:
            try:
                namespaces = os.listdir(root)
            except OSError:
                continue
            for ns in namespaces:
                try:
                    entries = os.listdir(os.path.join(root, ns))
                except OSError:
                    continue
                for entry in entries:
                    if entry.startswith(cid) and os.path.isfile(os.path.join(root, ns, entry, "config.json")):
                        return Path(root, ns, entry)
        return None

    def lookup(self, cid: str) -> ContainerInfo | None:
        """The container's metadata, or None when no bundle of that id is there (or it is unreadable)."""
        if cid in self._found:
            return self._found[cid]
        now = self._clock()
        if now - self._missed.get(cid, -_MISS_TTL - 1) < _MISS_TTL:
            return None
        bundle = self._bundle(cid)
        info = None
        if bundle is not None:
            try:
                spec = orjson.loads((bundle / "config.json").read_bytes())
                if isinstance(spec, dict):  # a member of another shape than OciSpec says: not this container
                    info = info_from_spec(bundle.name, cast(OciSpec, spec))
            except (OSError, orjson.JSONDecodeError, AttributeError, TypeError, KeyError):
                info = None
        if info is None:
            self._missed[cid] = now
            return None
        if len(self._found) >= 4096:  # containers come and go: keep the cache bounded
            self._found.clear()
        self._found[cid] = info
        return info

    def forget(self, cid: str) -> None:
        self._found.pop(cid, None)


def combined(pods: Callable[[CgroupMatch | str], ContainerInfo | None],
             state: RuntimeState) -> Callable[[CgroupMatch | str], ContainerInfo | None]:
    """A resolver that prefers the pod watch's metadata and fills what it lacks from the runtime state."""

    def resolve(match: CgroupMatch | str) -> ContainerInfo | None:
        info = pods(match)
        cid = match if isinstance(match, str) else getattr(match, "id", None)
        if not cid or cid == "host":
            return info
        if info is not None and info.name and info.image:
            return info
        found = state.lookup(cid)
        if found is None:
            return info
        return found if info is None or not info.pod_name else info
    return resolve
