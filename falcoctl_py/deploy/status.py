"""Release status: per DaemonSet (one per node pool) desired/ready pods, and per pod the engine version, rules
checksum and drop count read through the pod proxy.

Owns: collecting those facts into plain records (the CLI prints them as a table or JSON). A pod whose metrics
cannot be read is reported with the reason, not skipped. It must not change anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from falcoctl_py.deploy.steps import Target
from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s import Kube, objects
from falcoctl_py.k8s import metrics as kmetrics
from falcoctl_py.k8s.rollout import state_of

POOL_LABEL_KEYS = ("falco-py.dev/pool",)


@dataclass
class PodStatus:
    name: str
    node: str | None
    ready: bool
    engine_version: str | None = None
    rules_checksum: str | None = None
    drops: float | None = None
    error: str | None = None


@dataclass
class DaemonSetStatus:
    name: str
    pool: str
    desired: int
    ready: int
    updated: int
    available: int
    pods: list[PodStatus] = field(default_factory=list)


@dataclass
class ReleaseStatus:
    release: str
    namespace: str
    daemonsets: list[DaemonSetStatus] = field(default_factory=list)

    @property
    def checksums(self) -> set[str]:
        return {p.rules_checksum for d in self.daemonsets for p in d.pods if p.rules_checksum}

    @property
    def healthy(self) -> bool:
        return (
            all(d.ready == d.desired for d in self.daemonsets)
            and len(self.checksums) <= 1
            and not any(p.error for d in self.daemonsets for p in d.pods)
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "healthy": self.healthy, "rules_checksums": sorted(self.checksums)}


def _pool_of(ds: Any) -> str:
    labels = dict((ds.spec.template.metadata.labels if ds.spec.template.metadata else None) or {})
    for key in POOL_LABEL_KEYS:
        if labels.get(key):
            return str(labels[key])
    return ds.metadata.name


def collect(kube: Kube, t: Target) -> ReleaseStatus:
    out = ReleaseStatus(release=t.release, namespace=t.namespace)
    daemonsets = objects.list_daemonsets(kube, t.namespace, instance=t.release)
    if not daemonsets:
        raise ClusterError(f"release {t.release} has no DaemonSets in namespace {t.namespace}")
    for ds in sorted(daemonsets, key=lambda d: d.metadata.name):
        st = state_of(ds)
        entry = DaemonSetStatus(
            ds.metadata.name, _pool_of(ds), st.desired, st.ready, st.updated, st.available
        )
        pods = objects.list_pods(kube, t.namespace, match_labels=dict(ds.spec.selector.match_labels or {}))
        scraped = kmetrics.scrape_many(kube, t.namespace, [p.metadata.name for p in pods])
        for pod in pods:
            ps = PodStatus(
                pod.metadata.name, pod.spec.node_name if pod.spec else None, objects.pod_ready(pod)
            )
            m = scraped[pod.metadata.name]
            if isinstance(m, ClusterError):
                ps.error = str(m)
            else:
                ps.engine_version, ps.rules_checksum, ps.drops = m.engine_version, m.rules_checksum, m.drops
            entry.pods.append(ps)
        entry.pods.sort(key=lambda p: p.name)
        out.daemonsets.append(entry)
    return out
