"""``audit setup``: the API server audit policy our k8s_audit rules need and the audit webhook kubeconfig.

Owns: the policy (written here from what the k8saudit fields read: request bodies of workload, RBAC, service and
ConfigMap writes; metadata only for Secrets and tokens; nothing for read-only noise and health probes) and the
kubeconfig that points the API server at the webhook Service with the CA from our TLS Secret. It must not change
the cluster: the API server's flags are the operator's to set.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from falcoctl_py.deploy.steps import WEBHOOK_TLS_SECRET, Target
from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s import Kube, objects

WEBHOOK_PORT = 9765
WEBHOOK_PATH = "/k8s-audit"
TOKEN_SECRET = "falco-py-webhook-token"
MANAGED_NOTE = (
    "Managed control planes (EKS, GKE, AKS) do not accept an audit webhook: their API server flags are not "
    "yours to set. There, use the provider's audit log export instead; this setup is for self-managed clusters."
)

WORKLOADS = ["pods", "deployments", "daemonsets", "statefulsets", "replicasets", "jobs", "cronjobs"]


def audit_policy() -> dict[str, Any]:
    read = ["get", "list", "watch"]
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            # health probes, discovery and high-volume controller chatter carry nothing the rules look at
            {
                "level": "None",
                "nonResourceURLs": [
                    "/healthz*",
                    "/livez*",
                    "/readyz*",
                    "/version",
                    "/metrics",
                    "/openapi*",
                    "/api",
                    "/apis",
                ],
            },
            {
                "level": "None",
                "resources": [
                    {"group": "coordination.k8s.io", "resources": ["leases"]},
                    {"group": "", "resources": ["events"]},
                    {"group": "events.k8s.io", "resources": ["events"]},
                ],
            },
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
            {
                "level": "None",
                "userGroups": ["system:nodes"],
                "verbs": read,
                "resources": [{"group": "", "resources": ["nodes", "nodes/status"]}],
            },
            # secrets and tokens: who touched what, never the content
            {
                "level": "Metadata",
                "resources": [
                    {"group": "", "resources": ["secrets", "serviceaccounts/token"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                ],
            },
            # exec/attach/port-forward: the rules match the subresource and command
            {
                "level": "Request",
                "resources": [{"group": "", "resources": ["pods/exec", "pods/attach", "pods/portforward"]}],
            },
            # writes whose bodies the rules inspect (privileged pods, host mounts, RBAC grants, NodePorts,
            # credentials in ConfigMaps)
            {
                "level": "Request",
                "verbs": ["create", "update", "patch", "delete"],
                "resources": [
                    {
                        "group": "",
                        "resources": ["pods", "services", "configmaps", "serviceaccounts", "namespaces"],
                    },
                    {"group": "apps", "resources": WORKLOADS[1:5]},
                    {"group": "batch", "resources": ["jobs", "cronjobs"]},
                    {
                        "group": "rbac.authorization.k8s.io",
                        "resources": ["roles", "clusterroles", "rolebindings", "clusterrolebindings"],
                    },
                ],
            },
            {"level": "None", "verbs": read},  # remaining reads: volume without detections
            {"level": "Metadata"},
        ],
    }


def webhook_kubeconfig(kube: Kube, t: Target, *, service: str | None = None) -> dict[str, Any]:
    service = service or f"{t.release}-webhook"
    secret = objects.read_secret(kube, t.namespace, WEBHOOK_TLS_SECRET)
    if secret is None or not (secret.data or {}).get("ca.crt"):
        raise ClusterError(
            f"secret {t.namespace}/{WEBHOOK_TLS_SECRET} with ca.crt not found: install with the audit webhook first"
        )
    user: dict[str, Any] = {}
    token = objects.read_secret(kube, t.namespace, TOKEN_SECRET)
    if token is not None and (token.data or {}).get("token"):
        user["token"] = base64.b64decode(token.data["token"]).decode()
    server = f"https://{service}.{t.namespace}.svc:{WEBHOOK_PORT}{WEBHOOK_PATH}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "falco-py",
                "cluster": {"server": server, "certificate-authority-data": secret.data["ca.crt"]},
            }
        ],
        "users": [{"name": "kube-apiserver", "user": user}],
        "contexts": [{"name": "default", "context": {"cluster": "falco-py", "user": "kube-apiserver"}}],
        "current-context": "default",
    }


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)
