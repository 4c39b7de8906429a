"""Preflight before an install: API server reachable, server version, permissions, schedulable nodes.

Owns: the list of permissions an install needs and asking the API server about each with a
SelfSubjectAccessReview. An answer without ``status`` is reported as "unknown" (some servers and emulators do not
fill it in), never as allowed. It must not create anything but the access reviews (which persist nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from falcoctl_py.k8s.client import Kube

# (verb, group, resource, namespaced) the chart's objects and our own steps need.
INSTALL_PERMISSIONS: tuple[tuple[str, str, str, bool], ...] = (
    ("create", "", "namespaces", False),
    ("patch", "", "namespaces", False),
    ("create", "", "secrets", True),
    ("create", "", "configmaps", True),
    ("create", "", "services", True),
    ("create", "", "serviceaccounts", True),
    ("create", "apps", "daemonsets", True),
    ("create", "apps", "deployments", True),
    ("create", "rbac.authorization.k8s.io", "clusterroles", False),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", False),
    ("create", "networking.k8s.io", "networkpolicies", True),
    ("create", "scheduling.k8s.io", "priorityclasses", False),
    ("get", "", "pods/proxy", True),
    ("watch", "apps", "daemonsets", True),
    ("list", "", "nodes", False),
)


@dataclass
class Permission:
    verb: str
    resource: str
    namespace: str | None
    allowed: bool | None  # None: the server gave no answer
    reason: str = ""

    def line(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        state = {True: "allowed", False: "DENIED", None: "unknown (no status in the review answer)"}[
            self.allowed
        ]
        return f"{self.verb} {self.resource}{where}: {state}" + (f" - {self.reason}" if self.reason else "")


@dataclass
class PreflightReport:
    server: str
    server_version: str
    node_count: int
    permissions: list[Permission] = field(default_factory=list)

    @property
    def denied(self) -> list[Permission]:
        return [p for p in self.permissions if p.allowed is False]

    @property
    def unknown(self) -> list[Permission]:
        return [p for p in self.permissions if p.allowed is None]


def _review(kube: Kube, verb: str, group: str, resource: str, namespace: str | None) -> Permission:
    plural, _, sub = resource.partition("/")
    attrs: dict[str, Any] = {"verb": verb, "group": group, "resource": plural}
    if sub:
        attrs["subresource"] = sub
    if namespace:
        attrs["namespace"] = namespace
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attrs},
    }
    label = f"{group + '/' if group else ''}{resource}"
    answer = kube.call(
        f"asking whether we may {verb} {label}", kube.authz().create_self_subject_access_review, body
    )
    status = answer.status
    if status is None:
        return Permission(verb, label, namespace, None)
    return Permission(verb, label, namespace, bool(status.allowed), str(status.reason or ""))


def preflight(kube: Kube, *, namespace: str) -> PreflightReport:
    """Reachability and version first (one clear error if the server is down), then nodes and permissions."""
    version = kube.server_version()
    nodes = kube.call("listing nodes", kube.core().list_node).items
    report = PreflightReport(server=kube.server, server_version=version, node_count=len(nodes))
    for verb, group, resource, namespaced in INSTALL_PERMISSIONS:
        report.permissions.append(_review(kube, verb, group, resource, namespace if namespaced else None))
    return report
