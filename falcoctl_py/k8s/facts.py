"""Cluster facts for sizing and network policy: server version, node pools, API server endpoints, cluster DNS.

Owns: reading nodes, the ``kubernetes`` EndpointSlices in ``default`` and the cluster DNS Service, and grouping
nodes into pools by the usual node-pool labels. ``ClusterFacts`` is a plain dataclass; ``pools`` is in the
profile's pool shape (what ``falcoctl_py.values.build_values(cluster=...)`` reads), ``pool_details`` carries the
rest (allocatable, OS/arch, node names). It must not size anything or write to the cluster.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s.client import Kube, connect
from falcoctl_py.quantity import cpu_millicores, memory_bytes

# Checked in this order; the first label a node carries names its pool.
POOL_LABELS: tuple[str, ...] = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "node.kubernetes.io/instance-type",
)
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
DNS_SERVICES: tuple[tuple[str, str], ...] = (("kube-system", "kube-dns"), ("kube-system", "coredns"))
MIN_POOL_CPUS, MAX_POOL_CPUS = 2, 192


@dataclass
class PoolInfo:
    name: str
    label_key: str | None  # the node-pool label that defined the pool (None: nodes without any)
    count: int
    cpu_capacity_m: int
    cpu_allocatable_m: int
    memory_capacity_bytes: int
    memory_allocatable_bytes: int
    pods_capacity: int
    pods_allocatable: int
    taints: list[dict[str, str]] = field(default_factory=list)
    os: str = "linux"
    arch: str = "amd64"
    nodes: list[str] = field(default_factory=list)
    control_plane: bool = False

    def profile_pool(self) -> dict[str, Any]:
        """The pool in the profile's shape (largest node of the pool; CPUs clamped to the profile's range)."""
        cpus = max(MIN_POOL_CPUS, min(MAX_POOL_CPUS, -(-self.cpu_capacity_m // 1000)))
        labels = {self.label_key: self.name} if self.label_key else {}
        if self.control_plane:
            labels[CONTROL_PLANE_LABEL] = ""
        return {
            "name": _pool_slug(self.name),
            "cpu": cpus,
            "memory": self.memory_capacity_bytes,
            "pods_per_node": max(1, self.pods_allocatable),
            "count": self.count,
            "labels": labels,
            "taints": [dict(t) for t in self.taints],
        }


@dataclass
class ClusterFacts:
    server_version: str
    pool_details: list[PoolInfo]
    api_server_cidrs: list[str]
    api_server_ports: list[int]
    dns_cidrs: list[str]
    dns_ports: list[dict[str, Any]]

    @property
    def pools(self) -> list[dict[str, Any]]:
        return [p.profile_pool() for p in self.pool_details]

    @property
    def kube_version(self) -> str:
        """``MAJOR.MINOR.PATCH`` of the server (``v1.29.3-eks-5e0fdde`` and ``v1.26.4+k3s1`` carry suffixes)."""
        return kube_version_of(self.server_version)

    @property
    def node_count(self) -> int:
        return sum(p.count for p in self.pool_details)


def kube_version_of(git_version: str) -> str:
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", git_version.strip())
    if not m:
        raise ClusterError(f"server version {git_version!r} is not a Kubernetes version")
    return f"{m.group(1)}.{m.group(2)}.{m.group(3) or 0}"


def _pool_slug(name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return (slug or "default")[:40].strip("-")


def _pool_of(labels: dict[str, str]) -> tuple[str, str | None]:
    """Pool name and the label that defines it. Self-managed control-plane nodes (no cloud pool label) form
    their own pool, never mixed with workers of the same instance type."""
    if CONTROL_PLANE_LABEL in labels and not any(labels.get(k) for k in POOL_LABELS[:-1]):
        return "control-plane", None
    for key in POOL_LABELS:
        if labels.get(key):
            return labels[key], key
    return "default", None


def group_nodes(nodes: list[Any]) -> list[PoolInfo]:
    """Group node objects (kubernetes client models) into pools; per-pool numbers are of the largest node."""
    groups: dict[tuple[str, str | None], list[Any]] = defaultdict(list)
    for node in nodes:
        groups[_pool_of(dict(node.metadata.labels or {}))].append(node)
    pools: list[PoolInfo] = []
    for (name, key), members in sorted(groups.items(), key=lambda kv: kv[0][0]):

        def res(node: Any, kind: str, item: str) -> str:
            return str((getattr(node.status, kind) or {}).get(item, "0"))

        taints: dict[tuple[str, str, str], dict[str, str]] = {}
        for node in members:
            for t in (node.spec.taints if node.spec else None) or []:
                entry = {"key": t.key, "effect": t.effect}
                if t.value:
                    entry["value"] = t.value
                taints[(t.key, t.value or "", t.effect)] = entry
        first_info = members[0].status.node_info
        pools.append(
            PoolInfo(
                name=name,
                label_key=key,
                count=len(members),
                cpu_capacity_m=max(cpu_millicores(res(n, "capacity", "cpu")) for n in members),
                cpu_allocatable_m=max(cpu_millicores(res(n, "allocatable", "cpu")) for n in members),
                memory_capacity_bytes=max(memory_bytes(res(n, "capacity", "memory")) for n in members),
                memory_allocatable_bytes=max(memory_bytes(res(n, "allocatable", "memory")) for n in members),
                pods_capacity=max(int(res(n, "capacity", "pods")) for n in members),
                pods_allocatable=max(int(res(n, "allocatable", "pods")) for n in members),
                taints=list(taints.values()),
                os=str(getattr(first_info, "operating_system", None) or "linux"),
                arch=str(getattr(first_info, "architecture", None) or "amd64"),
                nodes=sorted(n.metadata.name for n in members),
                control_plane=all(CONTROL_PLANE_LABEL in (n.metadata.labels or {}) for n in members),
            )
        )
    return pools


def _cidr(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    return f"{addr}/{32 if addr.version == 4 else 128}"


def api_server_endpoints(kube: Kube) -> tuple[list[str], list[int]]:
    """Addresses and ports behind the ``kubernetes`` Service, from its EndpointSlices in ``default``."""
    slices = kube.call(
        "listing EndpointSlices of service default/kubernetes",
        kube.discovery().list_namespaced_endpoint_slice,
        "default",
        label_selector="kubernetes.io/service-name=kubernetes",
    )
    cidrs: set[str] = set()
    ports: set[int] = set()
    items: list[Any] = list(slices.items)
    for sl in items:
        if (sl.metadata.labels or {}).get("kubernetes.io/service-name") != "kubernetes":
            continue  # the selector is a request; check the answer too
        for ep in sl.endpoints or []:
            if ep.conditions is not None and ep.conditions.ready is False:
                continue
            cidrs.update(_cidr(a) for a in ep.addresses or [])
        ports.update(int(p.port) for p in sl.ports or [] if p.port)
    return sorted(cidrs), sorted(ports)


def cluster_dns(kube: Kube) -> tuple[list[str], list[dict[str, Any]]]:
    """Cluster IP(s) and ports of the cluster DNS Service (``kube-dns``, else ``coredns``, in kube-system)."""
    for ns, name in DNS_SERVICES:
        services = kube.call(
            f"listing services in {ns}",
            kube.core().list_namespaced_service,
            ns,
            field_selector=f"metadata.name={name}",
        )
        found: list[Any] = list(services.items)
        for svc in found:
            if svc.metadata.name != name:
                continue
            ips = [ip for ip in (svc.spec.cluster_ips or [svc.spec.cluster_ip]) if ip and ip != "None"]
            ports = [{"port": int(p.port), "protocol": p.protocol or "TCP"} for p in svc.spec.ports or []]
            return [_cidr(ip) for ip in ips], ports
    return [], []


def facts_from(kube: Kube) -> ClusterFacts:
    version = kube.server_version()
    nodes = kube.call("listing nodes", kube.core().list_node).items
    if not nodes:
        raise ClusterError(f"cluster {kube.server} has no nodes: nothing to size or schedule on")
    cidrs, ports = api_server_endpoints(kube)
    dns_cidrs, dns_ports = cluster_dns(kube)
    return ClusterFacts(
        server_version=version,
        pool_details=group_nodes(nodes),
        api_server_cidrs=cidrs,
        api_server_ports=ports,
        dns_cidrs=dns_cidrs,
        dns_ports=dns_ports,
    )


def cluster_facts(*, context: str | None = None, kubeconfig: str | None = None) -> ClusterFacts:
    """Connect the kubectl way and read the cluster's facts."""
    return facts_from(connect(context=context, kubeconfig=kubeconfig))
