"""The default render of every shipped profile: which syscall backend, which host access, and whether the
NetworkPolicy the chart renders really selects the engine pods (it does not when they use the host network)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from chartutil import PROFILES, by_kind, pod_spec

from falcoctl_py.helm import Helm
from falcoctl_py.profiles import load_profile
from falcoctl_py.render import render
from falcoctl_py.values import build_values

pytestmark = pytest.mark.helm

# What the ebpf backend is granted (docs/chart.md says why each); tests/e2e/test_ebpf_least_privilege.py runs the
# backend with the capabilities it reads from a render and drops each in turn.
EBPF_CAPS = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels AND every matchExpression); empty selects all."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or ():
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def test_selector_semantics() -> None:
    labels = {"app": "x", "tier": "node"}
    assert selects({}, labels) and selects({"matchLabels": {"app": "x"}}, labels)
    assert not selects({"matchLabels": {"app": "x", "tier": "web"}}, labels)
    assert not selects({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["node"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, labels)


@pytest.fixture(scope="module", params=PROFILES)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(build_values(profile=request.param), kube_version="1.35")


def _node_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    config: dict[str, Any] = yaml.safe_load(cm["data"]["engine-node.yaml"])
    return config


def test_profile_render_uses_ebpf_without_host_namespaces_or_privilege(
    helm: Helm, rendered: tuple[str, list[dict[str, Any]]]
) -> None:
    name, docs = rendered
    syscall = "syscall" in load_profile(name).sources
    daemonsets = by_kind(docs, "DaemonSet")
    assert daemonsets
    for ds in daemonsets:
        spec = pod_spec(ds)
        where = f"{name}: DaemonSet {ds['metadata']['name']}"
        assert spec["hostNetwork"] is False and spec["hostPID"] is False, where
        assert not spec.get("hostIPC"), where
        (engine,) = spec["containers"]
        sc = engine["securityContext"]
        assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False, where
        assert sc["capabilities"]["drop"] == ["ALL"], where
        mounts = {m["mountPath"]: m for m in engine["volumeMounts"]}
        if ds["metadata"]["name"].endswith("-control-plane"):
            continue  # the audit-log pool reads a file, no syscall source
        if syscall:
            assert set(sc["capabilities"]["add"]) == EBPF_CAPS, where
            assert spec["securityContext"]["runAsUser"] == 0, where
            for path in ("/host/proc", "/host/sys/fs/cgroup", "/sys/kernel/btf"):
                assert mounts[path]["readOnly"] is True, (where, path)
        else:
            assert "add" not in sc["capabilities"], where
            assert spec["securityContext"]["runAsNonRoot"] is True, where
    config = _node_config(docs)
    if syscall:
        section = config["sources"]["syscall"]
        assert section["backend"] == "ebpf"
        mounts = {m["mountPath"] for m in pod_spec(daemonsets[0])["containers"][0]["volumeMounts"]}
        assert f"{section['host_root']}/proc" in mounts  # the engine reads processes where the chart mounts them
        assert section["container_state_roots"] and set(section["container_state_roots"]) <= mounts
    else:
        assert "syscall" not in (config["sources"] or {})


def test_profile_networkpolicy_selects_every_engine_pod(
    helm: Helm, rendered: tuple[str, list[dict[str, Any]]]
) -> None:
    name, docs = rendered
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert "falco-py.dev/note" not in (policy["metadata"].get("annotations") or {}), name
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    pods = [d for d in docs if d["kind"] in ("DaemonSet", "Deployment")]
    for workload in pods:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selects(policy["spec"]["podSelector"], labels), (name, workload["metadata"]["name"])
        # and the pods really sit in their own network namespace, where the policy is enforced
        assert pod_spec(workload).get("hostNetwork") is not True


def test_host_network_backends_are_flagged_as_outside_the_policy(helm: Helm) -> None:
    docs = render(build_values(profile="medium", sets=["syscall.backend=proc"]), kube_version="1.35")
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert "does not apply" in policy["metadata"]["annotations"]["falco-py.dev/note"]
    node_pods = [d for d in by_kind(docs, "DaemonSet")]
    assert node_pods and all(pod_spec(d)["hostNetwork"] is True for d in node_pods)


def test_node_pods_take_the_seccomp_profile_the_webhook_keeps_runtime_default(helm: Helm) -> None:
    default = render(build_values(profile="medium"), kube_version="1.35")
    assert all(pod_spec(d)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
               for d in default if d["kind"] in ("DaemonSet", "Deployment"))
    local = {"type": "Localhost", "localhostProfile": "profiles/falco-py-ebpf.json"}
    docs = render(build_values(profile="medium", sets=["daemonset.seccompProfile.type=Localhost",
                                                       f"daemonset.seccompProfile.localhostProfile={local['localhostProfile']}"]),
                  kube_version="1.35")
    assert all(pod_spec(d)["securityContext"]["seccompProfile"] == local for d in by_kind(docs, "DaemonSet"))
    (webhook,) = by_kind(docs, "Deployment")
    assert pod_spec(webhook)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
