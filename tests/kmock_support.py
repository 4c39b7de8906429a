"""A kmock-based Kubernetes API emulator for tests: seeding complete objects, a kubeconfig pointing at it, and
the request log (what was mutated).

kmock 0.8 serves on the test's event loop, so synchronous ``kubernetes`` client calls run through
``await in_thread(fn)``. Its path parser reads ``/api/v1/namespaces[/NAME]`` as a namespace prefix and fails;
the ``api`` fixture patches that for the test's duration so Namespace objects work. It ignores label and field
selectors: assert on the request received (``requests_to``), not on filtering.

Use: add ``from tests.kmock_support import api  # noqa: F401`` to a test module, then ``async def test_x(api)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import kmock
import pytest
import pytest_asyncio
import yaml
from kmock._internal import parsing

T = TypeVar("T")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_REVIEWS = "selfsubjectaccessreviews"
DECLARED = (
    "v1/nodes",
    "v1/pods",
    "v1/services",
    "v1/namespaces",
    "v1/secrets",
    "v1/configmaps",
    "apps/v1/daemonsets",
    "discovery.k8s.io/v1/endpointslices",
)


def _parse_path_with_namespaces(original: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(path: str) -> Any:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"] and 3 <= len(parts) <= 4 and parts[2] == "namespaces":
            return parsing.ParsedPath("", "v1", "namespaces", None, parts[3] if len(parts) == 4 else None)
        return original(path)

    return parse


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


class FakeCluster:
    """The emulator plus helpers; ``server`` is its URL, ``kubeconfig`` a file pointing at it."""

    def __init__(self, mock: Any, tmp: Path) -> None:
        self.mock = mock
        self.server = str(mock.url).rstrip("/")
        for res in DECLARED:  # an empty list is an answer; an undeclared resource is a 404
            mock.resources[res] = {}
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.server}}],
                    "users": [{"name": "tester", "user": {"token": "t0ken"}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
                    "current-context": "fake",
                }
            )
        )
        # Access reviews are virtual: a real server stores nothing, kmock keeps them and then answers 409.
        mock["post /apis/authorization.k8s.io/v1/selfsubjectaccessreviews"] << self._forget_review

    def _forget_review(self, request: Any) -> Any:
        key = (kmock.resource("authorization.k8s.io/v1/selfsubjectaccessreviews"), None, None)
        if key in self.mock.objects:
            del self.mock.objects[key]
        return request.data

    def kube(self) -> Any:
        from falcoctl_py.k8s import connect

        return connect(kubeconfig=str(self.kubeconfig))

    def seed(self, resource: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.mock.objects[kmock.resource(resource), meta.get("namespace"), meta["name"]] = obj

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any]:
        return dict(self.mock.objects[kmock.resource(resource), namespace, name])

    async def patch(self, path: str, body: dict[str, Any]) -> None:
        """Change an object through the emulator's HTTP API, so watchers get a MODIFIED event."""
        async with aiohttp.ClientSession() as session:
            resp = await session.patch(
                self.server + path, json=body, headers={"Content-Type": "application/merge-patch+json"}
            )
            assert resp.status == 200, await resp.text()

    def requests(self) -> list[Any]:
        return list(self.mock)

    def mutations(self) -> list[str]:
        """``METHOD path`` of every request that would change the cluster (access reviews persist nothing)."""
        out = []
        for r in self.mock:
            method = str(getattr(r.method, "value", r.method)).upper()
            if method in MUTATING and _REVIEWS not in r.url.path:
                out.append(f"{method} {r.url.path}")
        return out

    def requests_to(self, path_part: str) -> list[Any]:
        return [r for r in self.mock if path_part in r.url.path]


@pytest_asyncio.fixture()
async def api(kmock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    monkeypatch.setattr(parsing, "parse_path", _parse_path_with_namespaces(parsing.parse_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return FakeCluster(kmock, tmp_path)


# ---- complete objects (kubernetes 37 validates required model fields) ----


def node(
    name: str,
    *,
    labels: dict[str, str],
    cpu: str = "4",
    memory: str = "16Gi",
    pods: str = "110",
    taints: list[dict[str, str]] | None = None,
    arch: str = "amd64",
) -> dict[str, Any]:
    info = {
        k: "x"
        for k in (
            "architecture",
            "bootID",
            "containerRuntimeVersion",
            "kernelVersion",
            "kubeProxyVersion",
            "kubeletVersion",
            "machineID",
            "operatingSystem",
            "osImage",
            "systemUUID",
        )
    }
    info.update(architecture=arch, operatingSystem="linux")
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints or []},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "nodeInfo": info,
        },
    }


def endpoint_slice(addresses: list[str], *, port: int = 6443) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
        },
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }


def dns_service(ip: str = "10.96.0.10") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        },
    }


def daemonset(
    name: str,
    namespace: str,
    *,
    release: str = "falco-py",
    generation: int = 1,
    desired: int = 2,
    updated: int = 2,
    ready: int = 2,
    available: int = 2,
    observed: int | None = None,
    pool: str = "default",
) -> dict[str, Any]:
    sel = {
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/component": "node",
        "falco-py.dev/pool": pool,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "generation": generation,
            "labels": {"app.kubernetes.io/instance": release, "app.kubernetes.io/component": "node"},
        },
        "spec": {
            "selector": {"matchLabels": sel},
            "template": {
                "metadata": {"labels": sel},
                "spec": {"containers": [{"name": "engine", "image": "falco-py:0.1.0"}]},
            },
        },
        "status": {
            "currentNumberScheduled": desired,
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "observedGeneration": generation if observed is None else observed,
        },
    }


def pod(
    name: str, namespace: str, *, labels: dict[str, str], node_name: str, ready: bool = True
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"nodeName": node_name, "containers": [{"name": "engine", "image": "falco-py:0.1.0"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def metrics_body(*, checksum: str, engine_version: str = "0.57.0", drops: float = 0) -> bytes:
    return (
        "# HELP falcopy_build_info Engine build\n# TYPE falcopy_build_info gauge\n"
        f'falcopy_build_info{{version="0.1.0",engine_version="{engine_version}",rules_checksum="{checksum}"}} 1\n'
        "# HELP falcopy_drops Events lost\n# TYPE falcopy_drops counter\n"
        f'falcopy_drops_total{{source="syscall",reason="queue_full"}} {drops}\n'
    ).encode()
