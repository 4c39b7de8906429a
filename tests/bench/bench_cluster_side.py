"""Cluster-side fan-out: ``cluster_facts`` over N nodes and ``status`` over N engine pods (one pod-proxy metrics
read per pod), against the kmock emulator on a local port.

Numbers are wall time on this machine with an in-process emulator (no network latency), so they bound our own
client-side cost: decoding node lists, grouping pools, one HTTP round trip per pod. On a real cluster add the
API server's latency times the number of pods for ``status``.
Usage: python tests/bench/bench_cluster_side.py [--nodes N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import kmock

from falcoctl_py.deploy.status import collect
from falcoctl_py.deploy.steps import Target
from falcoctl_py.k8s import facts_from
from falcoctl_py.k8s.metrics import scrape
from tests.kmock_support import FakeCluster, daemonset, dns_service, endpoint_slice, metrics_body, node, pod

POOL_LABELS = ("cloud.google.com/gke-nodepool", "eks.amazonaws.com/nodegroup", "karpenter.sh/nodepool")


async def main(nodes: int, latency_ms: float) -> None:
    import tempfile

    async with kmock.KubernetesEmulator() as mock, kmock.Server(mock):
        api = FakeCluster(mock, Path(tempfile.mkdtemp()))
        ds = daemonset("falco-py", "falco-py", desired=nodes, updated=nodes, ready=nodes, available=nodes)
        api.seed("apps/v1/daemonsets", ds)
        sel = ds["spec"]["selector"]["matchLabels"]
        body = metrics_body(checksum="a" * 64)
        for i in range(nodes):
            api.seed(
                "v1/nodes", node(f"n{i}", labels={POOL_LABELS[i % 3]: f"pool-{i % 7}"}, cpu=str(2 + i % 30))
            )
            api.seed("v1/pods", pod(f"falco-py-{i}", "falco-py", labels=sel, node_name=f"n{i}"))
        # one route for every pod; the sleep stands for the API server -> kubelet -> pod hop of a real cluster
        mock[lambda req: req.url.path.endswith(":8765/proxy/metrics")] << (
            lambda: asyncio.sleep(latency_ms / 1000),
            body,
        )
        api.seed("discovery.k8s.io/v1/endpointslices", endpoint_slice(["10.0.0.1"]))
        api.seed("v1/services", dns_service())
        kube = api.kube()

        def timed(fn: Any) -> tuple[float, Any]:
            start = time.perf_counter()
            out = fn()
            return time.perf_counter() - start, out

        t_facts, facts = await asyncio.to_thread(timed, lambda: facts_from(kube))
        t_status, st = await asyncio.to_thread(timed, lambda: collect(kube, Target("falco-py", "falco-py")))
        pods = sum(len(d.pods) for d in st.daemonsets)
        names = [f"falco-py-{i}" for i in range(nodes)]
        t_seq, _ = await asyncio.to_thread(timed, lambda: [scrape(kube, "falco-py", n) for n in names])
        print(
            f"cluster_facts: {nodes} nodes -> {len(facts.pool_details)} pools in {t_facts * 1000:.0f} ms "
            f"({t_facts / nodes * 1e6:.0f} us/node)"
        )
        print(
            f"status: {pods} pods, metrics via pod proxy in {t_status * 1000:.0f} ms "
            f"({t_status / max(pods, 1) * 1000:.2f} ms/pod, {latency_ms:g} ms emulated hop, concurrent)"
        )
        print(
            f"same scrapes one at a time: {t_seq * 1000:.0f} ms ({t_seq / nodes * 1000:.2f} ms/pod); "
            f"concurrency speed-up x{t_seq / t_status:.1f}"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=300)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    args = ap.parse_args()
    asyncio.run(main(args.nodes, args.latency_ms))
