"""Named stream mixes for the synthetic audit generator: the default busy-cluster mix, a RequestResponse-heavy one
and an alert-heavy one.

Owns: ``MIXES`` (name -> ``(kind, weight)`` pairs), the extra event kinds the non-default mixes use (full object
bodies as a ``RequestResponse`` policy records them: pods with status and managed fields, secrets, configmaps,
RBAC objects) and ``mix_lines(count, seed=, mix=)``. ``bodies`` averages about 3 KB per event, most of it in
``requestObject``/``responseObject`` that few rules read; ``alerts`` makes upstream ``k8s_audit_rules.yaml``
raise an alert for well over 15 % of its events (exec/attach, privileged and host-mount pods, secret reads by
users, RBAC changes, credentials in configmaps, users outside the allowed list).

Must not: evaluate rules or do I/O; the default mix stays the one ``engine.testing.audit_synth`` defines.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson

from engine.testing.audit_synth import IMAGES, MIX, NAMESPACES, NODES, USERS, AuditSynth, _stamp

BODIES: tuple[tuple[str, int], ...] = (
    ("read", 20),
    ("watch", 4),
    ("lease", 10),
    ("status", 6),
    ("event", 4),
    ("pod_get", 17),
    ("pod_update", 12),
    ("pod_create", 4),
    ("secret_body", 5),
    ("configmap_body", 10),
    ("user_write", 3),
    ("rbac", 4),
    ("exec", 1),
    ("denied", 2),
)
ALERTS: tuple[tuple[str, int], ...] = (
    ("read", 30),
    ("watch", 5),
    ("lease", 10),
    ("status", 6),
    ("event", 5),
    ("user_write", 8),
    ("secret_read", 5),
    ("pod_create", 9),
    ("exec", 5),
    ("rbac", 6),
    ("denied", 3),
    ("configmap_body", 2),
)
MIXES: dict[str, tuple[tuple[str, int], ...]] = {"default": MIX, "bodies": BODIES, "alerts": ALERTS}


class MixedSynth(AuditSynth):
    """``AuditSynth`` with the event kinds the ``bodies`` and ``alerts`` mixes add."""

    def _meta(self, name: str, ns: str, *, kind: str = "ReplicaSet", manager: str = "kube-controller-manager",
              fields: tuple[str, ...] = ("f:spec", "f:status")) -> dict[str, Any]:
        rng = self.rng
        return {
            "name": name,
            "namespace": ns,
            "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "resourceVersion": str(rng.randrange(10_000_000, 99_999_999)),
            "creationTimestamp": _stamp(self.now - rng.randrange(10**9, 10**13)).split(".")[0] + "Z",
            "labels": {"app": name.split("-")[0], "pod-template-hash": f"{rng.getrandbits(32):08x}"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": name.rsplit("-", 1)[0],
                                 "uid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                 "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": manager, "operation": "Update", "apiVersion": "v1",
                               "time": _stamp(self.now).split(".")[0] + "Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {f: {"f:containers": {f'k:{{"name":"{c}"}}': {".": {}, "f:image": {}, "f:name": {},
                                                                                  "f:resources": {}}
                                                                 for c in ("main", "proxy")}, ".": {}}
                                            for f in fields}}],
        }

    def _pod(self, name: str, ns: str) -> dict[str, Any]:
        rng = self.rng
        spec = self._pod_spec()
        sidecar = {"name": "proxy", "image": "docker.io/envoyproxy/envoy:v1.31.0", "imagePullPolicy": "IfNotPresent",
                   "args": ["--config-path", "/etc/envoy/envoy.yaml", "--log-level", "warn"],
                   "volumeMounts": [{"name": "envoy", "mountPath": "/etc/envoy", "readOnly": True}]}
        spec["containers"].append(sidecar)
        spec.setdefault("volumes", []).append({"name": "envoy", "configMap": {"name": "envoy-config"}})
        spec["tolerations"] = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300} for t in ("not-ready", "unreachable")]
        for c in spec["containers"]:
            c["env"] = [{"name": f"APP_SETTING_{i}", "value": f"value-{rng.randrange(10**6)}"} for i in range(10)]
            c["ports"] = [{"containerPort": 8080, "protocol": "TCP"}]
            c["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
            c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}
        spec["nodeName"] = rng.choice(NODES)
        started = _stamp(self.now - rng.randrange(10**9, 10**12)).split(".")[0] + "Z"
        status = {
            "phase": "Running",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": started}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "hostIP": f"10.0.0.{rng.randrange(2, 250)}",
            "podIP": f"10.244.{rng.randrange(0, 8)}.{rng.randrange(2, 250)}",
            "startTime": started,
            "containerStatuses": [{"name": c["name"], "ready": True, "restartCount": rng.randrange(3),
                                   "image": c["image"], "imageID": f"{c['image']}@sha256:{rng.getrandbits(256):064x}",
                                   "containerID": f"containerd://{rng.getrandbits(256):064x}",
                                   "state": {"running": {"startedAt": started}}}
                                  for c in spec["containers"]],
        }
        return {"kind": "Pod", "apiVersion": "v1", "metadata": self._meta(name, ns), "spec": spec, "status": status}

    def _body_event(self, *, verb: str, user: str, resource: str, ns: str, name: str | None, code: int = 200,
                    request: Any = None, response: Any = None) -> dict[str, Any]:
        event = self._base(verb=verb, user=user, groups=["system:serviceaccounts", "system:authenticated"],
                           resource=resource, group="", version="v1", namespace=ns, name=name, code=code,
                           level="RequestResponse")
        if request is not None:
            event["requestObject"] = request
        if response is not None:
            event["responseObject"] = response
        return event

    def _pod_get(self) -> dict[str, Any]:
        ns = self.rng.choice(NAMESPACES)
        name = f"api-{self.rng.randrange(1000, 9999)}-{self.rng.randrange(10000, 99999)}"
        user, _ = self._system_user()
        return self._body_event(verb="get", user=user, resource="pods", ns=ns, name=name,
                                response=self._pod(name, ns))

    def _pod_update(self) -> dict[str, Any]:
        ns = self.rng.choice(NAMESPACES)
        name = f"api-{self.rng.randrange(1000, 9999)}-{self.rng.randrange(10000, 99999)}"
        pod = self._pod(name, ns)
        return self._body_event(verb=self.rng.choice(("update", "patch")),
                                user="system:serviceaccount:kube-system:replicaset-controller",
                                resource="pods", ns=ns, name=name, request=pod, response=pod)

    def _secret_body(self) -> dict[str, Any]:
        ns = self.rng.choice(NAMESPACES)
        name = f"db-credentials-{self.rng.randrange(1, 5)}"
        data = {k: base64.b64encode(self.rng.randbytes(24)).decode() for k in ("username", "password", "ca.crt")}
        secret = {"kind": "Secret", "apiVersion": "v1", "type": "Opaque", "data": data,
                  "metadata": self._meta(name, ns, kind="Deployment", manager="helm")}
        user = self.rng.choice(("system:serviceaccount:kube-system:replicaset-controller",
                                "system:serviceaccount:argocd:argocd-application-controller"))
        return self._body_event(verb="get", user=user, resource="secrets", ns=ns, name=name, response=secret)

    def _configmap_body(self) -> dict[str, Any]:
        ns = self.rng.choice(NAMESPACES)
        name = f"app-config-{self.rng.randrange(1, 9)}"
        data = {f"setting_{i}": f"value-{self.rng.randrange(10**6)}" for i in range(12)}
        if self.rng.random() < 0.1:
            data["db_password"] = "hunter2"
        cm = {"kind": "ConfigMap", "apiVersion": "v1", "data": data,
              "metadata": self._meta(name, ns, kind="Deployment", manager="helm")}
        verb = self.rng.choice(("get", "get", "update", "create"))
        user = self.rng.choice(USERS) if verb != "get" else "system:serviceaccount:kube-system:replicaset-controller"
        return self._body_event(verb=verb, user=user, resource="configmaps", ns=ns, name=name,
                                request=cm if verb != "get" else None, response=cm)


def mix_lines(count: int, *, seed: int = 0, mix: str = "default") -> list[bytes]:
    """``count`` JSON lines of the named mix (``MIXES``) for ``seed``."""
    return [orjson.dumps(event) for event in MixedSynth(seed=seed, mix=MIXES[mix]).events(count)]


__all__ = ["IMAGES", "MIXES", "MixedSynth", "mix_lines"]
