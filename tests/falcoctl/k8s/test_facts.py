"""cluster_facts against the kmock emulator: pools by node-pool label, API server endpoints, cluster DNS."""

from __future__ import annotations

from falcoctl_py.k8s import cluster_facts
from tests.kmock_support import api, dns_service, endpoint_slice, in_thread, node  # noqa: F401


async def test_nodes_grouped_into_pools_by_label(api):  # noqa: F811
    api.seed(
        "v1/nodes", node("g1", labels={"cloud.google.com/gke-nodepool": "general"}, cpu="8", memory="32Gi")
    )
    api.seed(
        "v1/nodes", node("g2", labels={"cloud.google.com/gke-nodepool": "general"}, cpu="8", memory="32Gi")
    )
    api.seed(
        "v1/nodes",
        node(
            "k1",
            labels={"karpenter.sh/nodepool": "batch"},
            cpu="16",
            memory="64Gi",
            taints=[{"key": "batch", "value": "yes", "effect": "NoSchedule"}],
            arch="arm64",
        ),
    )
    api.seed(
        "v1/nodes", node("t1", labels={"node.kubernetes.io/instance-type": "m5.large"}, cpu="2", memory="8Gi")
    )
    api.seed("discovery.k8s.io/v1/endpointslices", endpoint_slice(["172.18.0.2", "172.18.0.3"]))
    api.seed("v1/services", dns_service("10.96.0.10"))

    facts = await in_thread(cluster_facts, kubeconfig=str(api.kubeconfig))

    by_name = {p.name: p for p in facts.pool_details}
    assert sorted(by_name) == ["batch", "general", "m5.large"]
    assert by_name["general"].count == 2 and by_name["general"].cpu_capacity_m == 8000
    assert by_name["general"].memory_capacity_bytes == 32 * 1024**3
    assert by_name["batch"].taints == [{"key": "batch", "value": "yes", "effect": "NoSchedule"}]
    assert by_name["batch"].arch == "arm64" and by_name["batch"].label_key == "karpenter.sh/nodepool"
    assert facts.api_server_cidrs == ["172.18.0.2/32", "172.18.0.3/32"]
    assert facts.api_server_ports == [6443]
    assert facts.dns_cidrs == ["10.96.0.10/32"]
    assert {"port": 53, "protocol": "UDP"} in facts.dns_ports
    assert facts.server_version.startswith("v1.")
    # the profile-shaped view the sizing reads
    general = next(p for p in facts.pools if p["name"] == "general")
    assert general == {
        "name": "general",
        "cpu": 8,
        "memory": 32 * 1024**3,
        "pods_per_node": 110,
        "count": 2,
        "labels": {"cloud.google.com/gke-nodepool": "general"},
        "taints": [],
    }
    assert next(p for p in facts.pools if p["name"] == "m5-large")["labels"] == {
        "node.kubernetes.io/instance-type": "m5.large"
    }
    # the selector was asked for, and the answer was re-checked (kmock ignores selectors)
    [req] = api.requests_to("/endpointslices")
    assert req.params.get("labelSelector") == "kubernetes.io/service-name=kubernetes"


async def test_facts_feed_build_values(api):  # noqa: F811
    from falcoctl_py.values import build_values

    api.seed("v1/nodes", node("a1", labels={"eks.amazonaws.com/nodegroup": "ng-1"}, cpu="4", memory="16Gi"))
    api.seed("discovery.k8s.io/v1/endpointslices", endpoint_slice(["10.0.0.5"], port=443))
    api.seed("v1/services", dns_service("10.100.0.10"))
    facts = await in_thread(cluster_facts, kubeconfig=str(api.kubeconfig))
    values = build_values(profile="small", cluster=facts)
    assert values["network"]["apiServer"]["cidrs"] == ["10.0.0.5/32"]
    assert values["network"]["apiServer"]["ports"] == [443]
    assert values["network"]["dns"]["cidrs"] == ["10.100.0.10/32"]
    assert [p["name"] for p in values["nodePools"]["pools"]] == ["ng-1"]


async def test_nodeless_cluster_is_an_error(api):  # noqa: F811
    import pytest

    from falcoctl_py.errors import ClusterError

    with pytest.raises(ClusterError, match="no nodes"):
        await in_thread(cluster_facts, kubeconfig=str(api.kubeconfig))


async def test_control_plane_nodes_form_their_own_pool(api):  # noqa: F811
    it = {"node.kubernetes.io/instance-type": "m5.xlarge"}
    api.seed(
        "v1/nodes",
        node(
            "cp1",
            labels={**it, "node-role.kubernetes.io/control-plane": ""},
            taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        ),
    )
    api.seed("v1/nodes", node("w1", labels=it))
    facts = await in_thread(cluster_facts, kubeconfig=str(api.kubeconfig))
    pools = {p["name"]: p for p in facts.pools}
    assert set(pools) == {"control-plane", "m5-xlarge"}
    assert pools["control-plane"]["labels"] == {"node-role.kubernetes.io/control-plane": ""}
    assert pools["control-plane"]["taints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]
    assert pools["m5-xlarge"]["count"] == 1
