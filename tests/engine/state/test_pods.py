"""Pod metadata: containers of a pod as ContainerInfo, and the node-scoped watcher against the kmock emulator."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.state.containers import match_path
from engine.state.pods import PodIndex, PodWatcher, containers_of
from tests.kmock_support import api  # noqa: F401

FULL = "5d2c" + "a1" * 30
NODE = "node-a"


def pod(name: str, *, uid: str, node: str = NODE, container_id: str = FULL, privileged: bool = False,
        labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": uid, "labels": labels or {"app": name},
                     "resourceVersion": "1"},
        "spec": {"nodeName": node, "containers": [
            {"name": "main", "image": "ghcr.io/shop/api:2.4.1", "securityContext": {"privileged": privileged}}]},
        "status": {"phase": "Running", "podIP": "10.1.2.3", "containerStatuses": [
            {"name": "main", "containerID": f"containerd://{container_id}", "image": "ghcr.io/shop/api:2.4.1",
             "imageID": "ghcr.io/shop/api@sha256:" + "0" * 64, "ready": True, "restartCount": 0,
             "state": {"running": {}}}]},
    }


def test_containers_of_maps_status_ids_to_pod_fields() -> None:
    [(cid, info)] = containers_of(pod("api", uid="u-1", privileged=True)).items()
    assert cid == FULL[:12] and info.full_id == FULL and info.runtime == "containerd"
    assert (info.pod_name, info.pod_namespace, info.pod_uid, info.pod_ip) == ("api", "shop", "u-1", "10.1.2.3")
    assert info.pod_labels == {"app": "api"} and info.privileged is True
    assert (info.image_repository, info.image_tag) == ("ghcr.io/shop/api", "2.4.1")


def test_index_lookup_unknown_and_host() -> None:
    index = PodIndex()
    index.upsert(pod("api", uid="u-1"))
    assert index.container(FULL[:12]).pod_name == "api"  # type: ignore[union-attr]
    assert index.container("host") is None
    other = match_path("/kubepods/besteffort/pod0b1c2d3e-4f50-4a1b-9c8d-7e6f5a4b3c2d/" + "e" * 64)
    assert other is not None
    bare = index.container(other)
    assert bare is not None and bare.id == "e" * 12 and bare.pod_name is None and bare.pod_uid is not None
    index.remove(pod("api", uid="u-1"))
    assert index.container(FULL[:12]).pod_name is None  # type: ignore[union-attr]


def _core_api(kubeconfig: str) -> Any:
    from kubernetes import client, config
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_watcher_lists_this_node_then_follows_changes(api: Any) -> None:  # noqa: F811
    api.seed("v1/pods", pod("api", uid="u-1"))
    index = PodIndex()
    watcher = PodWatcher(index, NODE, api_factory=lambda: _core_api(str(api.kubeconfig)), resync=2.0)
    watcher.start()
    try:
        await _until(lambda: index.container(FULL[:12]).pod_name == "api")
        lists = [r for r in api.requests_to("/pods") if r.params.get("watch") != "true"]
        assert lists and all(r.params.get("fieldSelector") == f"spec.nodeName={NODE}" for r in lists)
        second = "7f" * 32
        obj = pod("worker", uid="u-2", container_id=second, labels={"tier": "batch"})
        api.seed("v1/pods", obj)
        await api.mock._buses[api.mock.resource("v1/pods")].put({"type": "ADDED", "object": obj})
        await _until(lambda: index.container(second[:12]).pod_name == "worker", timeout=15)
        assert index.container(second[:12]).pod_labels == {"tier": "batch"}  # type: ignore[union-attr]
        watches = [r for r in api.requests_to("/pods") if r.params.get("watch") == "true"]
        assert watches and all(r.params.get("fieldSelector") == f"spec.nodeName={NODE}" for r in watches)
    finally:
        await asyncio.to_thread(watcher.stop)


async def test_watcher_reconnects_after_api_errors(api: Any) -> None:  # noqa: F811
    api.seed("v1/pods", pod("api", uid="u-1"))
    calls = {"n": 0}

    def flaky() -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("api server unreachable")
        return _core_api(str(api.kubeconfig))

    index = PodIndex()
    watcher = PodWatcher(index, NODE, api_factory=flaky, resync=2.0, backoff_max=0.5)
    watcher.start()
    try:
        await _until(lambda: index.container(FULL[:12]).pod_name == "api")
        assert watcher.errors >= 1 and "unreachable" in (watcher.last_error or "")
    finally:
        await asyncio.to_thread(watcher.stop)
