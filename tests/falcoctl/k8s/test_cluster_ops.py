"""Preflight, namespace labels, rollout watch, pod-proxy metrics and error translation against kmock."""

from __future__ import annotations

import asyncio

import pytest

from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s import connect, metrics, objects, preflight, rollout
from tests.http_support import free_port
from tests.kmock_support import api, daemonset, in_thread, metrics_body, node  # noqa: F401


async def test_preflight_reports_version_nodes_and_unknown_reviews(api):  # noqa: F811
    api.seed("v1/nodes", node("n1", labels={}))
    report = await in_thread(preflight.preflight, api.kube(), namespace="falco-py")
    assert report.server_version.startswith("v1.") and report.node_count == 1
    assert len(report.permissions) == len(preflight.INSTALL_PERMISSIONS)
    # kmock answers reviews without status: that is "unknown", never "allowed"
    assert report.unknown == report.permissions and report.denied == []
    assert "unknown" in report.permissions[0].line()
    reviews = api.requests_to("selfsubjectaccessreviews")
    attrs = [r.data["spec"]["resourceAttributes"] for r in reviews]
    assert {
        "verb": "get",
        "group": "",
        "resource": "pods",
        "subresource": "proxy",
        "namespace": "falco-py",
    } in attrs
    assert {"verb": "create", "group": "", "resource": "namespaces"} in attrs


async def test_namespace_created_with_privileged_labels_then_relabeled(api):  # noqa: F811
    kube = api.kube()
    assert await in_thread(objects.ensure_namespace, kube, "falco-py", level="privileged") == "created"
    labels = api.get("v1/namespaces", None, "falco-py")["metadata"]["labels"]
    assert labels == {f"pod-security.kubernetes.io/{m}": "privileged" for m in ("enforce", "audit", "warn")}
    assert await in_thread(objects.ensure_namespace, kube, "falco-py", level="privileged") == "unchanged"
    assert await in_thread(objects.ensure_namespace, kube, "falco-py", level="baseline") == "labeled"
    labels = api.get("v1/namespaces", None, "falco-py")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert api.mutations() == ["POST /api/v1/namespaces", "PATCH /api/v1/namespaces/falco-py"]


async def test_rollout_waits_for_status_changes(api):  # noqa: F811
    api.seed(
        "apps/v1/daemonsets",
        daemonset("falco-py", "ns", generation=2, observed=1, updated=0, ready=2, available=2),
    )
    kube = api.kube()
    seen: list[rollout.RolloutState] = []
    task = asyncio.create_task(
        in_thread(rollout.wait_rollout, kube, "ns", "falco-py", timeout=20, on_progress=seen.append)
    )
    await asyncio.sleep(0.5)
    assert not task.done() and seen and not seen[-1].done
    for step in (
        {"observedGeneration": 2, "updatedNumberScheduled": 1, "numberReady": 1},
        {"updatedNumberScheduled": 2, "numberReady": 2, "numberAvailable": 2},
    ):
        await api.patch("/apis/apps/v1/namespaces/ns/daemonsets/falco-py", {"status": step})
        await asyncio.sleep(0.3)
    final = await asyncio.wait_for(task, 10)
    assert final.done and final.updated == 2 and final.observed_generation == 2
    assert [s.updated for s in seen][-1] == 2 and len(seen) >= 3
    [watch_req] = [r for r in api.requests_to("/daemonsets") if r.params.get("watch") == "true"]
    assert watch_req.params.get("fieldSelector") == "metadata.name=falco-py"


async def test_rollout_times_out_with_last_state(api):  # noqa: F811
    api.seed("apps/v1/daemonsets", daemonset("falco-py", "ns", ready=1, available=1))
    with pytest.raises(ClusterError, match=r"not rolled out after 2s: falco-py: 2/2 updated, 1 ready"):
        await in_thread(rollout.wait_rollout, api.kube(), "ns", "falco-py", timeout=2)


async def test_metrics_read_through_pod_proxy(api):  # noqa: F811
    route = api.mock["get /api/v1/namespaces/ns/pods/p-1:8765/proxy/metrics"]
    route << metrics_body(checksum="c0ffee", drops=7)
    got = await in_thread(metrics.scrape, api.kube(), "ns", "p-1")
    assert got.rules_checksum == "c0ffee" and got.engine_version == "0.57.0" and got.drops == 7
    [req] = api.requests_to(":8765/proxy/metrics")
    assert req.headers.get("Authorization") == "Bearer t0ken"


async def test_garbage_metrics_are_a_cluster_error():
    with pytest.raises(ClusterError, match="not Prometheus text"):
        metrics.parse_metrics("p", "this is { not metrics")


def test_unreachable_server_is_one_line_cluster_error(tmp_path):
    cfg = tmp_path / "kc"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    with pytest.raises(ClusterError) as err:
        connect(kubeconfig=str(cfg)).server_version()
    assert "API server unreachable" in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 3


def test_missing_kubeconfig_and_unknown_context(tmp_path):
    with pytest.raises(ClusterError, match="kubeconfig"):
        connect(kubeconfig=str(tmp_path / "nope"))
    cfg = tmp_path / "kc"
    cfg.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    with pytest.raises(ClusterError, match="kubeconfig"):
        connect(kubeconfig=str(cfg), context="prod")


def test_missing_kubeconfig_names_the_path(tmp_path, monkeypatch):
    missing = str(tmp_path / "nonexist" / "kc")
    with pytest.raises(ClusterError) as err:
        connect(kubeconfig=missing)
    assert str(err.value) == f"kubeconfig {missing}: no such file" and err.value.exit_code == 3
    monkeypatch.setenv("KUBECONFIG", missing)
    with pytest.raises(ClusterError) as err:
        connect()
    assert str(err.value) == f"kubeconfig {missing}: no such file"


async def test_forbidden_answer_names_operation_and_server_message(api):  # noqa: F811
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 403,
        "message": 'nodes is forbidden: User "dev" cannot list resource "nodes"',
    }
    api.mock["get /api/v1/nodes"] << 403 << status
    with pytest.raises(ClusterError) as err:
        await in_thread(preflight.preflight, api.kube(), namespace="x")
    assert str(err.value) == (
        'listing nodes: HTTP 403 (forbidden: missing RBAC permission): nodes is forbidden: User "dev" cannot '
        'list resource "nodes"'
    )
