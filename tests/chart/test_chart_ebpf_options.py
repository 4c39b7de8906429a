"""The ebpf backend's chart knobs, rendered by real helm: the ring-buffer size reaches the engine config, passes
the engine's own schema and sizes the backend ``build`` makes; sizes the kernel would refuse are refused by both
schemas first; node pods with a backend get the AppArmor profile ``daemonset.appArmorProfile`` names (the
Kubernetes 1.30 field, or the annotation before 1.30), and nothing else gets one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from chartutil import CHART, by_kind, pod_spec

from falcoctl_py.errors import FalcoctlError
from falcoctl_py.render import render
from falcoctl_py.validate import check_manifests
from falcoctl_py.values import build_values

pytestmark = pytest.mark.helm

ANNOTATION = "container.apparmor.security.beta.kubernetes.io/engine"
WEBHOOK = ["k8sAudit.webhook.enabled=true", "k8sAudit.webhook.bearerToken.value=t0ken",
           "k8sAudit.webhook.tls.cert=cert", "k8sAudit.webhook.tls.key=key"]


def _node_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    config: dict[str, Any] = yaml.safe_load(cm["data"]["engine-node.yaml"])
    return config


def _engine(doc: dict[str, Any]) -> dict[str, Any]:
    (engine,) = [c for c in pod_spec(doc)["containers"] if c["name"] == "engine"]
    return engine


def test_the_ring_buffer_size_reaches_the_backend_the_engine_builds(
        helm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import validate_config
    from engine.sources import syscall

    docs = render(build_values(profile="medium", values_files=[CHART / "ci" / "syscall-ebpf-values.yaml"]))
    rendered = _node_config(docs)
    assert rendered["sources"]["syscall"]["ebpf"] == {"ring_buffer_mb": 32}
    section = validate_config(rendered, file="engine-node.yaml")["sources"]["syscall"]
    host = tmp_path / "host"
    host.mkdir()
    (host / "proc").symlink_to("/proc")  # stands in for the chart's read-only host /proc mount
    section = {**section, "host_root": str(host), "container_state_roots": [],
               "k8s_metadata": {"enabled": False}}
    monkeypatch.setitem(syscall.CHECKS, "ebpf", lambda: None)  # build only: nothing is loaded until open()
    source = syscall.build(section, event_types=["openat"])
    assert type(source).__name__ == "EbpfBackend" and source.ring_bytes == 32 << 20  # type: ignore[attr-defined]
    assert "ring 32 MiB" in source.describe()
    default = _node_config(render(build_values(profile="medium")))["sources"]["syscall"]["ebpf"]
    assert default == {"ring_buffer_mb": 16}


@pytest.mark.parametrize("size", [3, 0, 2048])
def test_a_ring_size_the_kernel_would_refuse_is_refused_by_both_schemas(helm: Any, size: int) -> None:
    from engine.config import ConfigError, validate_config

    with pytest.raises(FalcoctlError, match="ringBufferMB"):
        build_values(profile="medium", sets=[f"syscall.ebpf.ringBufferMB={size}"])
    with pytest.raises(ConfigError) as info:
        validate_config({"rules": ["r"], "sources": {"syscall": {"backend": "ebpf", "ebpf": {"ring_buffer_mb": size}}}})
    assert str(info.value).startswith(f"sources.syscall.ebpf.ring_buffer_mb: {size} is not one of 1, 2, 4,")


@pytest.mark.parametrize("kube_version", ["1.29", "1.30", "1.35"])
def test_node_pods_with_a_backend_run_unconfined_by_default_and_nothing_else_does(
        helm: Any, kube_version: str) -> None:
    docs = render(build_values(profile="medium", sets=WEBHOOK), kube_version=kube_version)
    assert check_manifests(docs, kube_version=kube_version).ok
    daemonsets, (webhook,) = by_kind(docs, "DaemonSet"), by_kind(docs, "Deployment")
    assert daemonsets
    field = kube_version != "1.29"
    for ds in daemonsets:
        annotations = ds["spec"]["template"]["metadata"]["annotations"]
        context = _engine(ds)["securityContext"]
        if field:
            assert context["appArmorProfile"] == {"type": "Unconfined"} and ANNOTATION not in annotations
        else:
            assert annotations[ANNOTATION] == "unconfined" and "appArmorProfile" not in context
    assert "appArmorProfile" not in _engine(webhook)["securityContext"]
    assert ANNOTATION not in webhook["spec"]["template"]["metadata"]["annotations"]
    without = render(build_values(profile="small"), kube_version=kube_version)  # no syscall backend
    for ds in by_kind(without, "DaemonSet"):
        assert "appArmorProfile" not in _engine(ds)["securityContext"]
        assert ANNOTATION not in ds["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize(("profile", "field", "annotation"), [
    ({"type": "RuntimeDefault"}, {"type": "RuntimeDefault"}, "runtime/default"),
    ({"type": "Localhost", "localhostProfile": "falco-py-engine"},
     {"type": "Localhost", "localhostProfile": "falco-py-engine"}, "localhost/falco-py-engine"),
])
def test_the_apparmor_knob_picks_the_profile(helm: Any, profile: dict[str, str], field: dict[str, str],
                                             annotation: str) -> None:
    sets = [f"daemonset.appArmorProfile.{k}={v}" for k, v in profile.items()]
    (ds, *_) = by_kind(render(build_values(profile="medium", sets=sets), kube_version="1.35"), "DaemonSet")
    assert _engine(ds)["securityContext"]["appArmorProfile"] == field
    (old, *_) = by_kind(render(build_values(profile="medium", sets=sets), kube_version="1.29"), "DaemonSet")
    assert old["spec"]["template"]["metadata"]["annotations"][ANNOTATION] == annotation


def test_a_localhost_apparmor_profile_needs_its_name(helm: Any) -> None:
    with pytest.raises(FalcoctlError, match="localhostProfile"):
        build_values(profile="medium", sets=["daemonset.appArmorProfile.type=Localhost"])
    with pytest.raises(FalcoctlError, match="appArmorProfile"):
        build_values(profile="medium", sets=["daemonset.appArmorProfile.type=Complain"])

