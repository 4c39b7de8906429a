"""The node name the chart gives the engine reaches the pod watch: render with real ``helm template``, resolve the
engine container's env the way the kubelet does (``fieldRef``), load the rendered node config with exactly that
env, and check the request the watcher sends to the API emulator is scoped to that node. Also: every env name the
chart sets is one the engine or the CLI reads, so a renamed variable cannot silently stop working again."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartutil import by_kind, pod_spec

from falcoctl_py.render import render
from falcoctl_py.values import build_values
from tests.kmock_support import api, in_thread  # noqa: F401

pytestmark = pytest.mark.helm

REPO = Path(__file__).resolve().parents[2]
NODE, NAMESPACE = "worker-7.example.internal", "falco-py"


def _core_api(kubeconfig: str) -> Any:
    from kubernetes import client, config
    return client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))


def _kubelet_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it for a pod on ``NODE`` in ``NAMESPACE``."""
    downward = {"spec.nodeName": NODE, "metadata.namespace": NAMESPACE}
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]  # any other source is new: this test must learn it
            env[item["name"]] = downward[path]
    return env


@pytest.fixture(scope="module")
def node_pods() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(engine container, engine config it mounts) of every node DaemonSet of the medium profile (ebpf)."""
    docs = render(build_values(profile="medium"), kube_version="1.35", namespace=NAMESPACE)
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    out = []
    for ds in by_kind(docs, "DaemonSet"):
        spec = pod_spec(ds)
        (engine,) = [c for c in spec["containers"] if c["name"] == "engine"]
        (volume,) = [v for v in spec["volumes"] if v["name"] == "config"]
        (item,) = volume["configMap"]["items"]
        out.append((engine, yaml.safe_load(cm["data"][item["key"]])))
    assert out, "the medium profile renders no node DaemonSet"
    return out


async def test_the_rendered_env_scopes_the_pod_watch_to_the_node(
        api: Any, node_pods: list[tuple[dict[str, Any], dict[str, Any]]],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import validate_config
    from engine.sources.syscall import pod_watcher
    from engine.state.pods import PodIndex

    engine, rendered = node_pods[0]
    section = validate_config(rendered)["sources"]["syscall"]
    env = _kubelet_env(engine)
    for name in [k for k in list(os.environ) if k.startswith("FALCOPY_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # the emulator's kubeconfig stands in for the pod's service-account credentials
    watcher = pod_watcher(section, PodIndex(), api_factory=lambda: _core_api(str(api.kubeconfig)))
    assert watcher is not None, f"no pod watch with the chart's env {sorted(env)}"
    watcher.start()
    try:
        for _ in range(200):
            lists = [r for r in api.requests_to("/pods") if r.params.get("watch") != "true"]
            if lists:
                break
            await asyncio.sleep(0.05)
        assert lists, f"the watcher sent no pod list (last error: {watcher.last_error})"
        assert {r.params.get("fieldSelector") for r in lists} == {f"spec.nodeName={NODE}"}
    finally:
        await in_thread(watcher.stop)


def test_without_the_node_name_there_is_no_watch_and_a_cluster_says_so(
        node_pods: list[tuple[dict[str, Any], dict[str, Any]]], caplog: pytest.LogCaptureFixture) -> None:
    from engine.config import validate_config
    from engine.sources.syscall import NODE_NAME_ENV, pod_watcher
    from engine.state.pods import PodIndex

    section = validate_config(node_pods[0][1])["sources"]["syscall"]
    env = {k: v for k, v in _kubelet_env(node_pods[0][0]).items() if k != NODE_NAME_ENV}
    with caplog.at_level("WARNING", logger="engine.sources.syscall"):
        assert pod_watcher(section, PodIndex(), environ={**env, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}) is None
    assert NODE_NAME_ENV in caplog.text
    assert pod_watcher(section, PodIndex(), environ={**env, NODE_NAME_ENV: NODE}) is not None


def test_every_env_name_the_chart_sets_is_read_by_the_engine_or_the_cli(
        node_pods: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for pkg in ("engine", "falcoctl_py")
                       for p in (REPO / pkg).rglob("*.py"))
    for engine, _config in node_pods:
        for name in _kubelet_env(engine):
            assert re.search(rf"[\"']{re.escape(name)}[\"']", source), (
                f"the chart sets {name} on the engine container, but nothing in engine/ or falcoctl_py/ reads it")
