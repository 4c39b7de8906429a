"""Values: profile -> sized chart values, helm-style merging and --set, refusal of unknown keys before render."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from falcoctl_py.cost_model import load_cost_model
from falcoctl_py.errors import EXIT_USAGE, UsageError
from falcoctl_py.profiles import load_profile
from falcoctl_py.values import build_values, load_values_file, merge, parse_set


def test_profile_pools_become_disjoint_node_pools_with_sized_resources() -> None:
    values = build_values(profile="large")
    pools = {p["name"]: p for p in values["nodePools"]["pools"]}
    assert set(pools) == {"system", "general", "highmem"}
    assert pools["highmem"]["selector"]["matchExpressions"] == [
        {"key": "node.kubernetes.io/pool", "operator": "In", "values": ["highmem"]}
    ]
    assert values["syscall"]["backend"] == "ebpf"
    assert values["k8sAudit"]["webhook"]["enabled"] is True
    assert values["k8sAudit"]["webhook"]["tls"]["existingSecret"]
    # at the ebpf backend's measured cost every pool of this profile sits at the floors; at the audit
    # backend's (0.112 s per 1k events) the busier pool gets more
    audit_cost = dataclasses.replace(load_cost_model(), cpu_seconds_per_1k={
        **load_cost_model().cpu_seconds_per_1k,
        "syscall": dataclasses.replace(load_cost_model().cpu_seconds_per_1k["syscall"], value=0.112)})
    heavy = {p["name"]: p for p in build_values(profile="large", cost_model=audit_cost)["nodePools"]["pools"]}
    hm, gen = heavy["highmem"]["resources"], heavy["general"]["resources"]
    assert hm["limits"]["cpu"] != gen["limits"]["cpu"]


def test_log_file_profile_maps_control_plane_to_the_auditlog_pool() -> None:
    values = build_values(profile="audit-only")
    assert values["k8sAudit"]["logFile"]["enabled"] is True
    assert values["nodePools"]["pools"] == []  # control plane is the chart's own pool; workers the default
    assert values["k8sAudit"]["logFile"]["resources"]["requests"]["memory"].endswith("Mi")


def test_files_then_sets_override_in_order(tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text(yaml.safe_dump({"image": {"tag": "from-file"}, "engine": {"logLevel": "debug"}}))
    values = build_values(
        profile="small", values_files=[f], sets=["image.tag=from-set", "engine.healthPort=9000"]
    )
    assert values["image"]["tag"] == "from-set" and values["engine"]["logLevel"] == "debug"
    assert values["engine"]["healthPort"] == 9000


def test_unknown_key_refused_naming_key_and_input(tmp_path: Path) -> None:
    f = tmp_path / "typo.yaml"
    f.write_text(yaml.safe_dump({"daemonset": {"maxUnavailabel": 1}}))
    with pytest.raises(UsageError) as info:
        build_values(profile="small", values_files=[f])
    assert "daemonset: unknown key 'maxUnavailabel'" in str(info.value) and str(f) in str(info.value)
    assert info.value.exit_code == EXIT_USAGE
    with pytest.raises(
        UsageError, match=r"syscall.backend: 'kmod' is not one of .*--set syscall.backend=kmod"
    ):
        build_values(profile="small", sets=["syscall.backend=kmod"])


def test_bad_quantity_refused() -> None:
    with pytest.raises(UsageError, match="daemonset.resources.limits.memory"):
        build_values(profile="small", sets=["daemonset.resources.limits.memory=lots"])


def test_set_parsing_follows_helm() -> None:
    assert parse_set("a.b=true") == {"a": {"b": True}}
    assert parse_set("a.b=on") == {"a": {"b": "on"}}  # helm keeps it a string
    assert parse_set("a=007") == {"a": "007"}
    assert parse_set("a=-3") == {"a": -3}
    assert parse_set("l={x,y}") == {"l": ["x", "y"]}
    assert parse_set("p[1].n=z") == {"p": [{}, {"n": "z"}]}
    assert parse_set(r"labels.example\.com/team=sec") == {"labels": {"example.com/team": "sec"}}
    with pytest.raises(UsageError, match="expected key=value"):
        parse_set("novalue")


def test_set_list_index_updates_one_element() -> None:
    values = build_values(profile="large", sets=["nodePools.pools[1].maxUnavailable=2"])
    pools = values["nodePools"]["pools"]
    assert pools[1]["maxUnavailable"] == 2 and pools[1]["name"] == "general"
    assert "maxUnavailable" not in pools[0]


def test_merge_semantics() -> None:
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}
    assert merge({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge({"a": 1, "b": 2}, {"a": None}) == {"b": 2}


def test_cluster_facts_replace_pools_and_network() -> None:
    cluster = {
        "pools": [
            {
                "name": "ng-1",
                "cpu": 16,
                "memory": "64Gi",
                "pods_per_node": 58,
                "count": 4,
                "labels": {"eks.amazonaws.com/nodegroup": "ng-1"},
            }
        ],
        "api_server_cidrs": ["172.20.0.5/32"],
        "api_server_ports": [443],
        "dns_cidrs": ["172.20.0.10/32"],
    }
    values = build_values(profile="medium", cluster=cluster)
    assert [p["name"] for p in values["nodePools"]["pools"]] == ["ng-1"]
    assert values["network"]["apiServer"] == {"cidrs": ["172.20.0.5/32"], "ports": [443]}
    assert values["network"]["dns"]["cidrs"] == ["172.20.0.10/32"]
    assert load_profile("medium").pools[0].name == "general"  # the shipped profile is untouched


def test_selector_labels_cannot_be_overridden() -> None:
    with pytest.raises(UsageError, match="'app.kubernetes.io/name' is reserved"):
        build_values(profile="small", sets=[r"daemonset.podLabels.app\.kubernetes\.io/name=x"])


def test_measured_cost_model_flows_into_resources(tmp_path: Path) -> None:
    import json

    from falcoctl_py.resources import default_cost_model_path

    doc = json.loads(default_cost_model_path().read_text())
    doc["cpu_seconds_per_1k_events"]["syscall"].update(value=2.0, spread=0.0, estimate=False, how="test")
    path = tmp_path / "cost.json"
    path.write_text(json.dumps(doc))
    cheap = {p["name"]: p for p in build_values(profile="medium")["nodePools"]["pools"]}
    dear = {p["name"]: p for p in build_values(profile="medium", cost_model=path)["nodePools"]["pools"]}
    # medium general pool: p90 150 syscall events/s x 2 CPU-s per 1k = 300m, +15% = 345m
    assert dear["general"]["resources"]["requests"]["cpu"] == "345m"
    assert cheap["general"]["resources"]["requests"]["cpu"] != "345m"


def test_cluster_facts_object_from_the_k8s_module() -> None:
    facts_mod = pytest.importorskip("falcoctl_py.k8s.facts")
    pool = facts_mod.PoolInfo(
        name="ng-big",
        label_key="eks.amazonaws.com/nodegroup",
        count=3,
        cpu_capacity_m=64000,
        cpu_allocatable_m=63000,
        memory_capacity_bytes=256 << 30,
        memory_allocatable_bytes=250 << 30,
        pods_capacity=110,
        pods_allocatable=110,
    )
    cp = facts_mod.PoolInfo(
        name="cp",
        label_key=None,
        count=3,
        cpu_capacity_m=4000,
        cpu_allocatable_m=3800,
        memory_capacity_bytes=16 << 30,
        memory_allocatable_bytes=15 << 30,
        pods_capacity=110,
        pods_allocatable=110,
        control_plane=True,
    )
    facts = facts_mod.ClusterFacts(
        server_version="v1.35.0",
        pool_details=[pool, cp],
        api_server_cidrs=["10.0.0.1/32"],
        api_server_ports=[6443],
        dns_cidrs=["10.96.0.10/32"],
        dns_ports=[],
    )
    values = build_values(profile="audit-only", cluster=facts)
    assert [p["name"] for p in values["nodePools"]["pools"]] == ["ng-big"]
    assert values["k8sAudit"]["logFile"]["enabled"] is True  # the control-plane pool reads the audit log
    assert values["network"]["apiServer"] == {"cidrs": ["10.0.0.1/32"], "ports": [6443]}


def test_cluster_pools_keyed_by_different_labels_are_made_disjoint() -> None:
    from falcoctl_py.values import disjoint_cluster_pools

    order = ("eks.amazonaws.com/nodegroup", "node.kubernetes.io/instance-type")
    pools = [
        {"name": "ng", "labels": {"eks.amazonaws.com/nodegroup": "ng"}},
        {"name": "m5", "labels": {"node.kubernetes.io/instance-type": "m5.large"}},
        {"name": "default", "labels": {}},
    ]
    out = disjoint_cluster_pools(pools, order)
    assert "exclude_labels" not in out[0] and "exclude_labels" not in out[2]
    assert out[1]["exclude_labels"] == ["eks.amazonaws.com/nodegroup"]
    assert "exclude_labels" not in pools[1]  # input untouched


def test_invalid_yaml_values_file_reports_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("image:\n  tag: [1, 2\nengine: {}\n")
    with pytest.raises(UsageError) as info:
        load_values_file(f)
    assert str(info.value) == f"{f}:3:7: values file is not valid YAML: did not find expected ',' or ']'"
    assert info.value.exit_code == EXIT_USAGE
