"""Engine metrics and health read through the API server's pod proxy (``/api/v1/namespaces/{ns}/pods/{pod}:{port}
/proxy/...``).

Owns: the proxy URLs and the engine facts the CLI reads through them (``falcopy_build_info`` labels, drop
counters). Parsing the exposition text is the tuning collector's job (``falcoctl_py.tuning.collector``, the one
metrics parser). It must not talk to pods directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s.client import Kube

HEALTH_PORT = 8765


def proxy_path(namespace: str, pod: str, path: str, *, port: int = HEALTH_PORT) -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}:{port}/proxy/{path.lstrip('/')}"


@dataclass
class EngineMetrics:
    pod: str
    build_info: dict[str, str] = field(default_factory=dict)
    drops: float = 0.0

    @property
    def engine_version(self) -> str | None:
        return self.build_info.get("engine_version") or self.build_info.get("version")

    @property
    def rules_checksum(self) -> str | None:
        return self.build_info.get("rules_checksum")


def parse_metrics(pod: str, text: str) -> EngineMetrics:
    """The facts the CLI reads from one pod's metrics (parsed by the tuning collector, the one metrics parser)."""
    from falcoctl_py.tuning.collector import parse_metrics as parse_sample

    sample = parse_sample(text, t=0.0, node=f"pod {pod}")
    return EngineMetrics(pod=pod, build_info=dict(sample.build_info), drops=sum(sample.drops.values()))


def scrape(kube: Kube, namespace: str, pod: str, *, port: int = HEALTH_PORT) -> EngineMetrics:
    body = kube.raw_get(
        f"reading metrics of pod {namespace}/{pod}", proxy_path(namespace, pod, "metrics", port=port)
    )
    return parse_metrics(pod, body.decode("utf-8", "replace"))


def healthy(kube: Kube, namespace: str, pod: str, *, port: int = HEALTH_PORT) -> tuple[bool, str]:
    """``/healthz`` of one pod: (ok, reason)."""
    try:
        body = kube.raw_get(
            f"health of pod {namespace}/{pod}", proxy_path(namespace, pod, "healthz", port=port)
        )
    except ClusterError as exc:
        return False, str(exc)
    return True, body.decode("utf-8", "replace").strip()[:80] or "ok"


def scrape_many(
    kube: Kube, namespace: str, pods: list[str], *, port: int = HEALTH_PORT, workers: int = 16
) -> dict[str, EngineMetrics | ClusterError]:
    """Scrape many pods concurrently (one API round trip each); a failure is returned per pod, not raised."""
    from concurrent.futures import ThreadPoolExecutor

    def one(pod: str) -> EngineMetrics | ClusterError:
        try:
            return scrape(kube, namespace, pod, port=port)
        except ClusterError as exc:
            return exc

    if not pods:
        return {}
    with ThreadPoolExecutor(max_workers=min(workers, len(pods))) as pool:
        return dict(zip(pods, pool.map(one, pods), strict=True))
