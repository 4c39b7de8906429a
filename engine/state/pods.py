"""Kubernetes pod metadata for containers on this node: container id → ``ContainerInfo``.

Owns: ``PodIndex`` (pods as plain dicts in, ``ContainerInfo`` out: pod name, namespace, uid, labels, IP, image,
privileged flag per container, keyed by the 12-character container id taken from ``containerStatuses``
``<runtime>://<64 hex>``) and ``PodWatcher``, a thread that lists then watches this node's pods only
(``fieldSelector=spec.nodeName=<node>``), resyncs by relisting, and reconnects with backoff. This is the ONLY
engine module that talks to the API server; the ``kubernetes`` client is imported lazily, in the watcher only.

Must not: read ``/proc`` or cgroups (``engine.state.containers`` gives ids), or block the event path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.events.syscall import ContainerInfo
from engine.jsonvalue import JSON, as_object, as_objects, as_str
from engine.state.containers import CgroupMatch

# A pod as the API serves it (JSON, camelCase keys); only the members read below matter.
Pod = Mapping[str, JSON]


class RawResponse(Protocol):
    """What a ``_preload_content=False`` call of the kubernetes client returns: the body, unparsed."""

    @property
    def data(self) -> bytes: ...


class PodsApi(Protocol):
    """The part of the kubernetes client's ``CoreV1Api`` the watcher uses (the client itself has no types)."""

    def list_pod_for_all_namespaces(self, **kwargs: object) -> RawResponse: ...


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image.split("@", 1)[0], None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1:]
    return image, "latest"


def _privileged(spec_container: dict[str, JSON]) -> bool:
    return bool(as_object(spec_container.get("securityContext")).get("privileged"))


def _uid(pod: Pod) -> str:
    meta = as_object(pod.get("metadata"))
    return as_str(meta.get("uid")) or as_str(meta.get("name")) or ""


def containers_of(pod: Pod) -> dict[str, ContainerInfo]:
    """Short container id → ``ContainerInfo`` for every container of a pod (JSON-shaped dict, camelCase)."""
    meta, spec, status = (as_object(pod.get(k)) for k in ("metadata", "spec", "status"))
    specs = {as_str(c.get("name")): c for c in [*as_objects(spec.get("containers")), *as_objects(spec.get("initContainers"))]}
    labels = {k: v for k, v in as_object(meta.get("labels")).items() if isinstance(v, str)}
    out: dict[str, ContainerInfo] = {}
    for cs in [*as_objects(status.get("containerStatuses")), *as_objects(status.get("initContainerStatuses"))]:
        runtime, sep, full = (as_str(cs.get("containerID")) or "").partition("://")
        if not sep or len(full) < 12:
            continue
        name = as_str(cs.get("name"))
        container = specs.get(name) or {}
        image = as_str(container.get("image")) or as_str(cs.get("image")) or ""
        repo, tag = _split_image(image)
        out[full[:12]] = ContainerInfo(
            id=full[:12], full_id=full, name=name, image=image, image_repository=repo, image_tag=tag,
            image_id=as_str(cs.get("imageID")), privileged=_privileged(container), runtime=runtime,
            pod_name=as_str(meta.get("name")), pod_namespace=as_str(meta.get("namespace")),
            pod_uid=as_str(meta.get("uid")), pod_labels=labels, pod_ip=as_str(status.get("podIP")),
            host_network=bool(spec.get("hostNetwork")), host_pid=bool(spec.get("hostPID")),
            host_ipc=bool(spec.get("hostIPC")),
        )
    return out


class PodIndex:
    """Pods of this node by uid, and their containers by short id (thread-safe swaps, lock-free reads)."""

    def __init__(self) -> None:
        self._by_pod: dict[str, dict[str, ContainerInfo]] = {}
        self._by_container: dict[str, ContainerInfo] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_pod)

    def upsert(self, pod: Pod) -> None:
        uid = _uid(pod)
        with self._lock:
            self._by_pod[uid] = containers_of(pod)
            self._rebuild()

    def remove(self, pod: Pod) -> None:
        uid = _uid(pod)
        with self._lock:
            if self._by_pod.pop(uid, None) is not None:
                self._rebuild()

    def replace_all(self, pods: list[Pod]) -> None:
        fresh = {as_str(as_object(p.get("metadata")).get("uid")) or "": containers_of(p) for p in pods}
        with self._lock:
            self._by_pod = fresh
            self._rebuild()

    def _rebuild(self) -> None:
        self._by_container = {cid: info for infos in self._by_pod.values() for cid, info in infos.items()}

    def container(self, match: CgroupMatch | str) -> ContainerInfo | None:
        """The container an id (or cgroup match) names; a bare ``ContainerInfo`` when the pod is not known."""
        cid = match if isinstance(match, str) else match.id
        if cid == "host":
            return None
        got = self._by_container.get(cid)
        if got is not None:
            return got
        runtime = None if isinstance(match, str) else match.runtime
        return ContainerInfo(id=cid, runtime=runtime,
                             full_id=None if isinstance(match, str) else match.full_id,
                             pod_uid=None if isinstance(match, str) else match.pod_uid)


class PodWatcher:
    """Keeps a ``PodIndex`` current from the API server: list, watch, relist every ``resync`` seconds."""

    def __init__(self, index: PodIndex, node_name: str, *, api_factory: Callable[[], PodsApi] | None = None,
                 resync: float = 300.0, backoff_max: float = 30.0) -> None:
        self.index = index
        self.node_name = node_name
        self.resync = resync
        self.backoff_max = backoff_max
        self._api_factory = api_factory or _default_api
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lists = 0
        self.errors = 0
        self.last_error: str | None = None

    @property
    def selector(self) -> str:
        return f"spec.nodeName={self.node_name}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="pod-watcher", daemon=True)
        self._thread.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def sync_once(self, api: PodsApi) -> str:
        """List this node's pods into the index; returns the list's resourceVersion."""
        result = api.list_pod_for_all_namespaces(field_selector=self.selector, _preload_content=False)
        import orjson
        body = as_object(orjson.loads(result.data))
        self.index.replace_all(list(as_objects(body.get("items"))))
        self.lists += 1
        return str(as_object(body.get("metadata")).get("resourceVersion") or "")

    def _loop(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                api = self._api_factory()
                version = self.sync_once(api)
                backoff = 1.0
                self._watch(api, version)
            except Exception as exc:  # noqa: BLE001 - any API failure: count it, back off, reconnect
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.backoff_max)

    def _watch(self, api: Any, version: str) -> None:
        from kubernetes import watch  # lazily: only a node with pod metadata enabled pays for the client
        deadline = time.monotonic() + self.resync
        server_timeout = max(1, int(min(60, self.resync)))
        while not self._stop.is_set() and time.monotonic() < deadline:
            w = watch.Watch()
            # The client-side read timeout ends a watch the server keeps open past its timeoutSeconds.
            stream = w.stream(api.list_pod_for_all_namespaces, field_selector=self.selector,
                              resource_version=version, timeout_seconds=server_timeout,
                              _request_timeout=(10, server_timeout + 2))
            try:
                for item in stream:
                    obj = api.api_client.sanitize_for_serialization(item["object"])
                    kind = item["type"]
                    if kind == "DELETED":
                        self.index.remove(obj)
                    elif kind in ("ADDED", "MODIFIED"):
                        self.index.upsert(obj)
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if self._stop.is_set():
                        return
            except Exception as exc:  # an idle watch timing out is normal; anything else propagates
                if "timeout" not in type(exc).__name__.lower() and "timed out" not in str(exc).lower():
                    raise
            finally:
                w.stop()


def _default_api() -> Any:
    from kubernetes import client, config
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.CoreV1Api()
