"""A seeded, deterministic generator of realistic kube-apiserver audit events (``audit.k8s.io/v1``).

Owns: the synthetic stream used by ``make run``, tests and benchmarks. Its shape follows a busy cluster: mostly
system reads (get/list/watch by controllers, the scheduler and kubelets), lease renewals, status patches and
Event creation; a minority of user writes, pod creations (some privileged, with host mounts or host network),
exec/attach, RBAC changes, secret reads and denied requests. Levels follow a policy sized for a busy cluster:
``Metadata`` for reads and for the high-volume system writes (lease renewals, status patches, Event creation),
``RequestResponse`` for user writes, pod creations and RBAC changes, ``Request`` for exec/attach. The same seed
gives the same bytes.

Must not: evaluate rules or do I/O (callers write the lines where they want).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
NODES = tuple(f"node-{i}" for i in range(1, 7))
NAMESPACES = ("default", "shop", "payments", "monitoring", "kube-system", "ingress-nginx")
USERS = ("alice@example.com", "bob@example.com", "ci-deployer", "system:serviceaccount:argocd:argocd-server")
CONTROLLERS = (
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:endpointslice-controller",
    "system:serviceaccount:kube-system:deployment-controller",
)
READ_RESOURCES = (
    ("pods", "", "v1"),
    ("nodes", "", "v1"),
    ("configmaps", "", "v1"),
    ("endpoints", "", "v1"),
    ("services", "", "v1"),
    ("deployments", "apps", "v1"),
    ("replicasets", "apps", "v1"),
    ("endpointslices", "discovery.k8s.io", "v1"),
    ("namespaces", "", "v1"),
)
IMAGES = (
    "nginx:1.27",
    "docker.io/library/redis:7.2",
    "ghcr.io/shop/api:2.4.1",
    "quay.io/prometheus/node-exporter:v1.8",
    "registry.k8s.io/pause:3.9",
    "busybox@sha256:2c5e" + "0" * 60,
)

# (kind, weight): the mix of a busy cluster, most frequent first.
MIX = (
    ("read", 50),
    ("watch", 8),
    ("lease", 15),
    ("status", 9),
    ("event", 8),
    ("user_write", 3),
    ("secret_read", 2),
    ("pod_create", 2),
    ("denied", 1),
    ("exec", 1),
    ("rbac", 1),
)


KINDS = {"clusterrolebindings": "ClusterRoleBinding", "rolebindings": "RoleBinding", "clusterroles": "ClusterRole",
         "roles": "Role"}


def _singular(resource: str) -> str:
    """``ingresses`` -> ``ingress``, ``pods`` -> ``pod``, ``endpoints`` stays: names for synthetic objects."""
    if resource.endswith("sses"):
        return resource[:-2]
    return resource if resource == "endpoints" else resource.removesuffix("s")


def _stamp(ns: int) -> str:
    secs, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


class AuditSynth:
    """Iterate synthetic audit events (dicts) or JSON lines (bytes) for a seed; ``mix`` is ``(kind, weight)``
    pairs, each kind a ``_<kind>`` method (``engine.testing.audit_mixes`` adds kinds and mixes)."""

    def __init__(self, *, seed: int = 0, start_ns: int = START_NS, mean_gap_us: int = 2_000,
                 mix: tuple[tuple[str, int], ...] = MIX) -> None:
        self.rng = random.Random(seed)
        self.now = start_ns
        self.mean_gap_us = mean_gap_us
        kinds, weights = zip(*mix, strict=True)
        self._kinds, self._weights = kinds, weights

    def events(self, count: int) -> Iterator[dict[str, object]]:
        for _ in range(count):
            self.now += int(self.rng.expovariate(1 / self.mean_gap_us) * 1000) + 1000
            kind = self.rng.choices(self._kinds, self._weights)[0]
            yield getattr(self, f"_{kind}")()

    def lines(self, count: int) -> Iterator[bytes]:
        for event in self.events(count):
            yield orjson.dumps(event)

    # --- building blocks -------------------------------------------------------------------------------------
    def _base(
        self,
        *,
        verb: str,
        user: str,
        groups: list[str],
        resource: str,
        group: str,
        version: str,
        namespace: str | None,
        name: str | None,
        code: int,
        level: str = "Metadata",
        stage: str = "ResponseComplete",
        subresource: str | None = None,
        agent: str = "kube-controller-manager/v1.31.2",
    ) -> dict[str, Any]:
        rng = self.rng
        path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        if namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{resource}" + (f"/{name}" if name else "") + (f"/{subresource}" if subresource else "")
        ref: dict[str, Any] = {"resource": resource, "apiVersion": version}
        if group:
            ref["apiGroup"] = group
        if namespace:
            ref["namespace"] = namespace
        if name:
            ref["name"] = name
        if subresource:
            ref["subresource"] = subresource
        allowed = code < 400 or code == 404
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "stage": stage,
            "requestURI": path + ("?watch=true&timeoutSeconds=420" if verb == "watch" else ""),
            "verb": verb,
            "user": {"username": user, "groups": groups},
            "sourceIPs": [f"10.0.{rng.randrange(0, 4)}.{rng.randrange(2, 250)}"],
            "userAgent": agent,
            "objectRef": ref,
            "responseStatus": {"metadata": {}, "code": code},
            "requestReceivedTimestamp": _stamp(self.now - rng.randrange(200_000, 9_000_000)),
            "stageTimestamp": _stamp(self.now),
            "annotations": {
                "authorization.k8s.io/decision": "allow" if allowed else "forbid",
                "authorization.k8s.io/reason": "RBAC: allowed by ClusterRoleBinding" if allowed else "",
            },
        }
        return event

    def _system_user(self) -> tuple[str, list[str]]:
        if self.rng.random() < 0.4:
            return f"system:node:{self.rng.choice(NODES)}", ["system:nodes", "system:authenticated"]
        return self.rng.choice(CONTROLLERS), ["system:serviceaccounts", "system:authenticated"]

    def _read(self) -> dict[str, Any]:
        user, groups = self._system_user()
        resource, group, version = self.rng.choice(READ_RESOURCES)
        ns = None if resource in ("nodes", "namespaces") else self.rng.choice(NAMESPACES)
        verb = self.rng.choice(("get", "list", "list", "get"))
        name = f"{_singular(resource)}-{self.rng.randrange(1, 40)}" if verb == "get" else None
        code = 404 if verb == "get" and self.rng.random() < 0.03 else 200
        return self._base(
            verb=verb,
            user=user,
            groups=groups,
            resource=resource,
            group=group,
            version=version,
            namespace=ns,
            name=name,
            code=code,
        )

    def _watch(self) -> dict[str, Any]:
        user, groups = self._system_user()
        resource, group, version = self.rng.choice(READ_RESOURCES)
        return self._base(
            verb="watch",
            user=user,
            groups=groups,
            resource=resource,
            group=group,
            version=version,
            namespace=None,
            name=None,
            code=200,
            stage="ResponseStarted",
        )

    def _lease(self) -> dict[str, Any]:
        node = self.rng.choice(NODES)
        event = self._base(
            verb="update",
            user=f"system:node:{node}",
            groups=["system:nodes", "system:authenticated"],
            resource="leases",
            group="coordination.k8s.io",
            version="v1",
            namespace="kube-node-lease",
            name=node,
            code=200,
            agent="kubelet/v1.31.2",
        )
        return event

    def _status(self) -> dict[str, Any]:
        node = self.rng.choice(NODES)
        if self.rng.random() < 0.5:
            return self._base(
                verb="patch",
                user=f"system:node:{node}",
                groups=["system:nodes"],
                resource="nodes",
                group="",
                version="v1",
                namespace=None,
                name=node,
                code=200,
                subresource="status",
                agent="kubelet/v1.31.2",
            )
        return self._base(
            verb="patch",
            user=f"system:node:{node}",
            groups=["system:nodes"],
            resource="pods",
            group="",
            version="v1",
            namespace=self.rng.choice(NAMESPACES),
            name=f"api-{self.rng.randrange(1000, 9999)}",
            code=200,
            subresource="status",
            agent="kubelet/v1.31.2",
        )

    def _event(self) -> dict[str, Any]:
        user, groups = self._system_user()
        return self._base(
            verb="create",
            user=user,
            groups=groups,
            resource="events",
            group="",
            version="v1",
            namespace=self.rng.choice(NAMESPACES),
            name=None,
            code=201,
        )

    def _user_write(self) -> dict[str, Any]:
        user = self.rng.choice(USERS)
        resource, group = self.rng.choice(
            (
                ("deployments", "apps"),
                ("configmaps", ""),
                ("services", ""),
                ("ingresses", "networking.k8s.io"),
            )
        )
        verb = self.rng.choice(("create", "update", "patch", "delete"))
        ns = self.rng.choice(NAMESPACES[:4])
        name = f"{_singular(resource)}-{self.rng.randrange(1, 20)}"
        event = self._base(
            verb=verb,
            user=user,
            groups=["developers", "system:authenticated"],
            resource=resource,
            group=group,
            version="v1",
            namespace=ns,
            name=name,
            code=200 if verb != "create" else 201,
            level="RequestResponse",
            agent="kubectl/v1.31.2 (linux/amd64)",
        )
        if resource == "configmaps" and verb in ("create", "update"):
            data = {"LOG_LEVEL": "info", "FEATURE_X": "on"}
            if self.rng.random() < 0.2:
                data["aws_secret_access_key"] = "xxxx"
            event["requestObject"] = {
                "kind": "ConfigMap",
                "apiVersion": "v1",
                "metadata": {"name": name},
                "data": data,
            }
        if resource == "services" and verb == "create":
            event["requestObject"] = {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": {"name": name},
                "spec": {
                    "type": self.rng.choice(("ClusterIP", "ClusterIP", "NodePort", "LoadBalancer")),
                    "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}],
                },
            }
        return event

    def _secret_read(self) -> dict[str, Any]:
        user = self.rng.choice(USERS + CONTROLLERS[2:])
        return self._base(
            verb="get",
            user=user,
            groups=["system:authenticated"],
            resource="secrets",
            group="",
            version="v1",
            namespace=self.rng.choice(NAMESPACES),
            name=f"db-credentials-{self.rng.randrange(1, 5)}",
            code=200,
            agent="kubectl/v1.31.2 (linux/amd64)",
        )

    def _pod_spec(self) -> dict[str, Any]:
        rng = self.rng
        container: dict[str, Any] = {
            "name": "main",
            "image": rng.choice(IMAGES),
            "resources": {},
            "imagePullPolicy": "IfNotPresent",
        }
        spec: dict[str, Any] = {
            "containers": [container],
            "restartPolicy": "Always",
            "securityContext": {},
            "serviceAccountName": "default",
            "dnsPolicy": "ClusterFirst",
        }
        roll = rng.random()
        if roll < 0.1:
            container["securityContext"] = {"privileged": True}
        elif roll < 0.2:
            spec["volumes"] = [
                {
                    "name": "host",
                    "hostPath": {"path": rng.choice(("/etc", "/var/run/docker.sock", "/proc", "/var/log"))},
                }
            ]
            container["volumeMounts"] = [{"name": "host", "mountPath": "/host"}]
        elif roll < 0.25:
            spec["hostNetwork"] = True
        else:
            container["securityContext"] = {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
            }
            spec["volumes"] = [{"name": "cfg", "configMap": {"name": "app-config"}}]
        return spec

    def _pod_create(self) -> dict[str, Any]:
        ns = self.rng.choice(NAMESPACES)
        name = f"api-{self.rng.randrange(1000, 9999)}-{self.rng.randrange(10000, 99999)}"
        event = self._base(
            verb="create",
            user="system:serviceaccount:kube-system:replicaset-controller",
            groups=["system:serviceaccounts", "system:authenticated"],
            resource="pods",
            group="",
            version="v1",
            namespace=ns,
            name=None,
            code=201,
            level="RequestResponse",
        )
        spec = self._pod_spec()
        event["requestObject"] = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"generateName": name[:-5], "namespace": ns},
            "spec": spec,
        }
        event["responseObject"] = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "uid": str(uuid.UUID(int=self.rng.getrandbits(128)))},
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        return event

    def _exec(self) -> dict[str, Any]:
        sub = self.rng.choice(("exec", "attach"))
        ns = self.rng.choice(NAMESPACES)
        event = self._base(
            verb="create",
            user=self.rng.choice(USERS[:2]),
            groups=["developers", "system:authenticated"],
            resource="pods",
            group="",
            version="v1",
            namespace=ns,
            name=f"api-{self.rng.randrange(1000, 9999)}",
            code=101,
            subresource=sub,
            stage="ResponseStarted",
            level="Request",
            agent="kubectl/v1.31.2 (linux/amd64)",
        )
        if sub == "exec":
            event["requestURI"] += "?command=sh&container=main&stdin=true&stdout=true&tty=true"
        return event

    def _rbac(self) -> dict[str, Any]:
        kind = self.rng.choice(("clusterrolebindings", "rolebindings", "clusterroles", "roles"))
        ns = None if kind.startswith("cluster") else self.rng.choice(NAMESPACES)
        name = f"team-{self.rng.randrange(1, 9)}-{_singular(kind)}"
        event = self._base(
            verb="create",
            user=self.rng.choice(USERS),
            groups=["system:authenticated"],
            resource=kind,
            group="rbac.authorization.k8s.io",
            version="v1",
            namespace=ns,
            name=None,
            code=201,
            level="RequestResponse",
            agent="kubectl/v1.31.2 (linux/amd64)",
        )
        if kind.endswith("bindings"):
            role = self.rng.choice(("view", "edit", "cluster-admin"))
            obj = {
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [
                    {"kind": "User", "name": self.rng.choice(USERS), "apiGroup": "rbac.authorization.k8s.io"}
                ],
            }
        else:
            verbs = ["*"] if self.rng.random() < 0.2 else ["get", "list", "watch"]
            obj = {"rules": [{"apiGroups": [""], "resources": ["pods", "services"], "verbs": verbs}]}
        event["requestObject"] = {"kind": KINDS[kind], "metadata": {"name": name}, **obj}
        event["responseObject"] = {"metadata": {"name": name}}
        return event

    def _denied(self) -> dict[str, Any]:
        if self.rng.random() < 0.5:
            return self._base(
                verb="get",
                user="system:anonymous",
                groups=["system:unauthenticated"],
                resource="namespaces",
                group="",
                version="v1",
                namespace=None,
                name="kube-system",
                code=403,
                agent="curl/8.5.0",
            )
        return self._base(
            verb="list",
            user=self.rng.choice(USERS),
            groups=["system:authenticated"],
            resource="secrets",
            group="",
            version="v1",
            namespace="kube-system",
            name=None,
            code=403,
            agent="kubectl/v1.31.2 (linux/amd64)",
        )


def synth_lines(count: int, *, seed: int = 0) -> list[bytes]:
    """``count`` JSON lines of synthetic audit events for ``seed``."""
    return list(AuditSynth(seed=seed).lines(count))
