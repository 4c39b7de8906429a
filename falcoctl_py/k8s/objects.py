"""Object operations install and upgrade need: namespace with Pod Security labels, Secrets, the rules ConfigMap,
DaemonSets and their pods.

Owns: the API calls and their idempotence (create, or patch what exists). Updates are JSON merge patches, never
whole-object replacements, so fields other controllers own are kept. It must not decide the namespace's Pod
Security level or the Secret contents (``falcoctl_py.deploy``).
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s.client import Kube, translate

PSA_LABELS = ("enforce", "audit", "warn")
MERGE_PATCH = "application/merge-patch+json"


def _exists(kube: Kube, what: str, fn: Any, *args: Any) -> Any | None:
    try:
        return fn(*args, _request_timeout=15)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise translate(exc, what, server=kube.server) from exc
    except Exception as exc:  # urllib3 errors and the like
        raise translate(exc, what, server=kube.server) from exc


def psa_labels(level: str) -> dict[str, str]:
    if level not in ("privileged", "baseline", "restricted"):
        raise ValueError(f"unknown Pod Security level {level!r}")
    return {f"pod-security.kubernetes.io/{mode}": level for mode in PSA_LABELS}


def ensure_namespace(kube: Kube, name: str, *, level: str) -> str:
    """Create ``name`` with Pod Security labels at ``level``, or patch the labels onto it. Returns
    ``created``, ``labeled`` or ``unchanged``."""
    labels = psa_labels(level)
    ns = _exists(kube, f"reading namespace {name}", kube.core().read_namespace, name)
    if ns is None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        kube.call(f"creating namespace {name}", kube.core().create_namespace, body)
        return "created"
    current = dict(ns.metadata.labels or {})
    if all(current.get(k) == v for k, v in labels.items()):
        return "unchanged"
    kube.call(
        f"labeling namespace {name}",
        kube.core().patch_namespace,
        name,
        {"metadata": {"labels": labels}},
    )
    return "labeled"


def read_secret(kube: Kube, namespace: str, name: str) -> Any | None:
    return _exists(
        kube, f"reading secret {namespace}/{name}", kube.core().read_namespaced_secret, name, namespace
    )


def apply_secret(
    kube: Kube,
    namespace: str,
    name: str,
    *,
    data: dict[str, str],
    secret_type: str = "Opaque",
    labels: dict[str, str] | None = None,
) -> str:
    """Create or patch a Secret; ``data`` values are base64 already. Returns ``created`` or ``updated``."""
    meta = {"name": name, "namespace": namespace, "labels": labels or {}}
    if read_secret(kube, namespace, name) is None:
        body = {"apiVersion": "v1", "kind": "Secret", "type": secret_type, "metadata": meta, "data": data}
        kube.call(
            f"creating secret {namespace}/{name}", kube.core().create_namespaced_secret, namespace, body
        )
        return "created"
    kube.call(
        f"updating secret {namespace}/{name}",
        kube.core().patch_namespaced_secret,
        name,
        namespace,
        {"metadata": {"labels": labels or {}}, "data": data},
    )
    return "updated"


def read_configmap(kube: Kube, namespace: str, name: str) -> Any | None:
    return _exists(
        kube, f"reading configmap {namespace}/{name}", kube.core().read_namespaced_config_map, name, namespace
    )


def replace_configmap_data(kube: Kube, namespace: str, name: str, data: dict[str, str]) -> dict[str, str]:
    """Make the ConfigMap's ``data`` exactly ``data`` (keys not in it are removed). Returns the previous data."""
    cm = read_configmap(kube, namespace, name)
    if cm is None:
        raise ClusterError(
            f"configmap {namespace}/{name} not found: is the release installed in {namespace}?"
        )
    old = dict(cm.data or {})
    patch: dict[str, Any] = {k: None for k in old if k not in data}
    patch.update(data)
    kube.call(
        f"updating configmap {namespace}/{name}",
        kube.core().patch_namespaced_config_map,
        name,
        namespace,
        {"data": patch},
    )
    return old


def list_daemonsets(kube: Kube, namespace: str, *, instance: str) -> list[Any]:
    """The release's DaemonSets (``app.kubernetes.io/instance=<release>``; the answer is re-checked)."""
    selector = f"app.kubernetes.io/instance={instance}"
    items: list[Any] = kube.call(
        f"listing daemonsets in {namespace}",
        kube.apps().list_namespaced_daemon_set,
        namespace,
        label_selector=selector,
    ).items
    return [d for d in items if (d.metadata.labels or {}).get("app.kubernetes.io/instance") == instance]


def list_pods(kube: Kube, namespace: str, *, match_labels: dict[str, str]) -> list[Any]:
    """Pods matching ``match_labels`` (a DaemonSet's selector); the answer is re-checked label by label."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
    items: list[Any] = kube.call(
        f"listing pods in {namespace}", kube.core().list_namespaced_pod, namespace, label_selector=selector
    ).items
    return [p for p in items if all((p.metadata.labels or {}).get(k) == v for k, v in match_labels.items())]


def pod_ready(pod: Any) -> bool:
    for cond in (pod.status.conditions if pod.status else None) or []:
        if cond.type == "Ready":
            return cond.status == "True"
    return False
