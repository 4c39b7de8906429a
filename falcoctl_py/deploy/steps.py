"""Steps shared by install, upgrade and status: the helm runner protocol, reading the live release back, Pod
Security level for the rendered pods, webhook TLS Secret, and engine health over the pod proxy.

Owns: what "release not found" looks like from helm, and the health/rollout loop over the release's DaemonSets.
It must not choose values or print.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from falcoctl_py.deploy import certs
from falcoctl_py.errors import ClusterError, HelmError
from falcoctl_py.helm import get_manifest_args, get_values_args
from falcoctl_py.k8s import Kube, objects, rollout
from falcoctl_py.k8s import metrics as kmetrics
from falcoctl_py.render import parse_manifests

WEBHOOK_TLS_SECRET = "falco-py-webhook-tls"


class HelmRunner(Protocol):
    def run(self, args: list[str]) -> str: ...


@dataclass(frozen=True)
class Target:
    release: str
    namespace: str
    context: str | None = None
    kubeconfig: str | None = None

    def helm_common(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "kube_context": self.context, "kubeconfig": self.kubeconfig}


def _not_found(err: HelmError) -> bool:
    return "not found" in str(err).lower()


def live_values(helm: HelmRunner, target: Target) -> dict[str, Any] | None:
    """The user-supplied values of the deployed release (``helm get values``), or None if there is no release."""
    try:
        out = helm.run(get_values_args(target.release, **target.helm_common()))
    except HelmError as err:
        if _not_found(err):
            return None
        raise
    try:
        doc = orjson.loads(out or "null")
    except orjson.JSONDecodeError as exc:
        raise ClusterError(f"helm get values {target.release}: output is not JSON") from exc
    return doc if isinstance(doc, dict) else {}


def live_manifests(helm: HelmRunner, target: Target) -> list[dict[str, Any]] | None:
    try:
        out = helm.run(get_manifest_args(target.release, **target.helm_common()))
    except HelmError as err:
        if _not_found(err):
            return None
        raise
    return parse_manifests(out)


def pod_security_level(values: Mapping[str, Any]) -> str:
    """``privileged`` when any pod uses host namespaces or host paths (a syscall backend, audit log files),
    else ``baseline`` (the webhook Deployment needs nothing more)."""
    backend = ((values.get("syscall") or {}).get("backend")) or "none"
    log_file = (((values.get("k8sAudit") or {}).get("logFile")) or {}).get("enabled", False)
    return "privileged" if backend != "none" or log_file else "baseline"


def webhook_enabled(values: Mapping[str, Any]) -> bool:
    return bool((((values.get("k8sAudit") or {}).get("webhook")) or {}).get("enabled", False))


def ensure_webhook_tls(kube: Kube, target: Target, *, service: str) -> str:
    """Keep a Secret whose certificate still covers the Service names; otherwise generate and store a new one."""
    import base64

    secret = objects.read_secret(kube, target.namespace, WEBHOOK_TLS_SECRET)
    current = (secret.data or {}).get("tls.crt") if secret is not None else None
    if current and certs.still_valid(base64.b64decode(current), service, target.namespace):
        return "kept"
    tls = certs.generate(service, target.namespace)
    return objects.apply_secret(
        kube,
        target.namespace,
        WEBHOOK_TLS_SECRET,
        data=tls.secret_data(),
        secret_type="kubernetes.io/tls",
        labels={"app.kubernetes.io/managed-by": "falcoctl-py"},
    )


def daemonset_names(docs: list[dict[str, Any]]) -> list[str]:
    return [d["metadata"]["name"] for d in docs if d.get("kind") == "DaemonSet"]


def watch_and_verify(
    kube: Kube,
    target: Target,
    names: list[str],
    *,
    timeout: float,
    on_progress: Callable[[rollout.RolloutState], None],
    say: Callable[[str], None],
) -> list[str]:
    """Wait for each DaemonSet's rollout, then ``/healthz`` every pod through the API server. Returns problems."""
    problems: list[str] = []
    for name in names:
        rollout.wait_rollout(kube, target.namespace, name, timeout=timeout, on_progress=on_progress)
        ds = kube.call(
            f"reading daemonset {name}", kube.apps().read_namespaced_daemon_set, name, target.namespace
        )
        pods = objects.list_pods(
            kube, target.namespace, match_labels=dict(ds.spec.selector.match_labels or {})
        )
        bad = 0
        for pod in pods:
            ok, why = kmetrics.healthy(kube, target.namespace, pod.metadata.name)
            if not ok:
                bad += 1
                problems.append(f"{pod.metadata.name} on {pod.spec.node_name}: {why}")
        say(f"{name}: {len(pods)} pod(s), {len(pods) - bad} healthy")
    return problems
