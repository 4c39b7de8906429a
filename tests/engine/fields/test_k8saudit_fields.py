"""ka.* / jevt.* extraction: plugin semantics (strings, fan-out, [N], missing values) on real and crafted events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from engine.events.k8s_audit import AuditEvent
from engine.fields import lookup, plugin_versions
from engine.fields.base import ArgMode
from engine.sources.k8s_audit.decode import decode_payload, from_obj


def ev(obj: dict[str, Any]) -> AuditEvent:
    base = {"kind": "Event", "auditID": "a-1", "stageTimestamp": "2024-05-01T10:00:00.5Z"}
    return from_obj({**base, **obj})


def x(event: AuditEvent, name: str, arg: Any = None) -> Any:
    spec = lookup("k8s_audit", name)
    assert spec is not None, name
    return spec.extract(event, arg)


POD = {
    "verb": "create", "objectRef": {"resource": "pods", "namespace": "default"},
    "requestURI": "/api/v1/namespaces/default/pods?dryRun=All&fieldManager=kubectl",
    "responseStatus": {"code": 201},
    "requestObject": {"kind": "Pod", "spec": {
        "hostNetwork": True, "hostPID": False,
        "securityContext": {"runAsUser": 1000, "fsGroup": 2000, "supplementalGroups": [1, 2]},
        "containers": [
            {"name": "a", "image": "nginx:1.27", "command": ["sh", "-c"], "args": ["sleep 1"],
             "ports": [{"containerPort": 80}, {"containerPort": 443, "hostPort": 8443}],
             "securityContext": {"privileged": True, "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]}}},
            {"name": "b", "image": "quay.io/x/y@sha256:abc",
             "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": False, "procMount": "Unmasked"}},
        ],
        "initContainers": [{"name": "init", "image": "busybox", "securityContext": {"privileged": False}}],
        "volumes": [{"name": "etc", "hostPath": {"path": "/etc/kubernetes"}},
                    {"name": "cfg", "configMap": {"name": "c"}},
                    {"name": "flex", "flexVolume": {"driver": "acme/nfs"}}],
    }},
}


def test_scalar_values_are_strings_as_the_plugin_renders_them() -> None:
    e = ev(POD)
    assert x(e, "ka.verb") == "create"
    assert x(e, "ka.response.code") == "201"
    assert x(e, "ka.req.pod.host_network") == "true"
    assert x(e, "ka.req.pod.host_pid") == "false"
    assert x(e, "ka.req.pod.run_as_user") == "1000"
    assert x(e, "ka.req.pod.fs_group") == "2000"
    assert x(e, "ka.req.pod.supplemental_groups") == ["1", "2"]
    assert x(e, "ka.target.resource") == "pods"


def test_absent_paths_are_missing_not_empty() -> None:
    e = ev(POD)
    for name in ("ka.target.name", "ka.target.subresource", "ka.user.name", "ka.impuser.name", "ka.req.pod.host_ipc",
                 "ka.req.service.type", "ka.resp.name", "ka.response.reason", "ka.req.binding.role",
                 "ka.req.role.rules", "ka.sourceips", "ka.req.pod.ephemeralContainers.image", "ka.cluster.name"):
        assert x(e, name) is None, name


def test_container_fields_fan_out_and_take_an_index() -> None:
    e = ev(POD)
    assert x(e, "ka.req.pod.containers.image") == ["nginx:1.27", "quay.io/x/y@sha256:abc"]
    assert x(e, "ka.req.pod.containers.image.repository") == ["nginx", "quay.io/x/y"]
    assert x(e, "ka.req.pod.containers.image", 1) == ["quay.io/x/y@sha256:abc"]
    assert x(e, "ka.req.pod.containers.image", 5) is None
    assert x(e, "ka.req.pod.containers.name") == ["a", "b"]
    # absent per-container values are skipped, not rendered
    assert x(e, "ka.req.pod.containers.privileged") == ["true"]
    assert x(e, "ka.req.pod.containers.allow_privilege_escalation") == ["false"]
    assert x(e, "ka.req.pod.containers.proc_mount") == ["Unmasked"]
    assert x(e, "ka.req.pod.containers.run_as_user") == ["0"]
    assert x(e, "ka.req.pod.containers.eff_run_as_user") == ["1000", "0"]
    assert x(e, "ka.req.pod.containers.eff_run_as_user", 0) == ["1000"]
    assert x(e, "ka.req.pod.containers.eff_run_as_group") == ["0", "0"]
    assert x(e, "ka.req.pod.containers.add_capabilities") == ["NET_ADMIN", "SYS_TIME"]
    assert x(e, "ka.req.pod.containers.host_port") == ["80", "8443"]
    assert x(e, "ka.req.pod.containers.command") == ["sh", "-c"]
    assert x(e, "ka.req.pod.initContainers.image") == ["busybox"]
    assert x(e, "ka.req.pod.initContainers.privileged") == ["false"]


def test_deprecated_first_container_and_any_privileged() -> None:
    e = ev(POD)
    assert x(e, "ka.req.container.image") == "nginx:1.27"
    assert x(e, "ka.req.container.image.repository") == "nginx"
    assert x(e, "ka.req.container.privileged") == "true"
    unpriv = copy.deepcopy(POD)
    unpriv["requestObject"]["spec"]["containers"][0]["securityContext"] = {}
    assert x(ev(unpriv), "ka.req.container.privileged") == "false"
    assert x(ev({"verb": "get"}), "ka.req.container.privileged") is None


def test_a_container_without_image_makes_the_image_list_missing() -> None:
    pod = copy.deepcopy(POD)
    del pod["requestObject"]["spec"]["containers"][1]["image"]
    assert x(ev(pod), "ka.req.pod.containers.image") is None


def test_volumes() -> None:
    e = ev(POD)
    assert x(e, "ka.req.pod.volumes.hostpath") == ["/etc/kubernetes"]
    assert x(e, "ka.req.pod.volumes.flexvolume_driver") == ["acme/nfs"]
    assert x(e, "ka.req.pod.volumes.volume_type") == ["hostPath", "configMap", "flexVolume"]
    assert x(e, "ka.req.volume.hostpath", "/etc*") == "true"
    assert x(e, "ka.req.volume.hostpath", "/etc") == "false"
    assert x(e, "ka.req.volume.hostpath", "/etc/kubernetes") == "true"
    assert x(ev({"verb": "get"}), "ka.req.volume.hostpath", "/etc") is None


def test_uri_param_and_jevt_pointer() -> None:
    e = ev(POD)
    assert x(e, "ka.uri.param", "dryRun") == "All"
    assert x(e, "ka.uri.param", "nope") is None
    assert x(e, "jevt.value", "/requestObject/spec/containers/1/name") == "b"
    assert x(e, "jevt.value", "/requestObject/spec/hostNetwork") == "true"
    assert x(e, "jevt.value", "/requestObject/spec/volumes/1") == '{"name":"cfg","configMap":{"name":"c"}}'
    assert x(e, "jevt.value", "/nope/0") is None
    assert x(e, "jevt.rawtime") == str(e.ts) == "1714557600500000000"
    assert x(e, "json.value", "/verb") == "create"


def test_rbac_fields() -> None:
    e = ev({"verb": "create", "objectRef": {"resource": "clusterrolebindings"}, "requestObject": {
        "roleRef": {"name": "cluster-admin"},
        "subjects": [{"kind": "User", "name": "bob"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
                     {"kind": "Group", "name": "devs"}],
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                  {"nonResourceURLs": ["/metrics"], "verbs": ["*"]}]}})
    assert x(e, "ka.req.binding.role") == "cluster-admin"
    assert x(e, "ka.req.binding.subjects") == ['{"kind":"User","name":"bob"}',
                                               '{"kind":"ServiceAccount","name":"sa","namespace":"ns"}',
                                               '{"kind":"Group","name":"devs"}']
    assert x(e, "ka.req.binding.subjects.user_names") == ["bob"]
    assert x(e, "ka.req.binding.subjects.serviceaccount_ns_names") == ["ns:sa"]
    assert x(e, "ka.req.binding.subjects.group_names") == ["devs"]
    assert x(e, "ka.req.role.rules.verbs") == ["get", "list", "*"]
    assert x(e, "ka.req.role.rules.verbs", 1) == ["*"]
    assert x(e, "ka.req.role.rules.apiGroups") == [""]
    assert x(e, "ka.req.role.rules.nonResourceURLs") == ["/metrics"]


def test_cluster_name_comes_from_the_source() -> None:
    e = ev(POD)
    assert x(e, "ka.cluster.name") is None
    e.cluster_name = "prod-eu"
    assert x(e, "ka.cluster.name") == "prod-eu"


def test_values_are_cached_per_event() -> None:
    e = ev(POD)
    first = x(e, "ka.req.pod.containers.image")
    e.obj["requestObject"]["spec"]["containers"] = []  # a cached value does not re-read the event
    assert x(e, "ka.req.pod.containers.image") is first
    assert ("ka.req.pod.containers.image", None) in e.cache


def test_odd_shapes_are_missing_never_errors() -> None:
    e = ev({"verb": 5, "objectRef": "pods", "requestObject": {"spec": {"containers": "nope", "volumes": [3]}}})
    assert x(e, "ka.verb") == "5"
    assert x(e, "ka.target.resource") is None
    assert x(e, "ka.req.pod.containers.image") is None
    assert x(e, "ka.req.pod.volumes.volume_type") is None
    assert x(e, "ka.req.pod.containers.eff_run_as_user") is None


def test_table_shape_and_plugin_versions() -> None:
    assert lookup("k8s_audit", "ka.uri.param").arg is ArgMode.REQUIRED  # type: ignore[union-attr]
    assert lookup("k8s_audit", "ka.req.pod.containers.image").is_list  # type: ignore[union-attr]
    assert lookup("syscall", "ka.verb") is None
    versions = plugin_versions()
    assert versions["k8saudit"] == "0.18.0"
    assert versions["k8saudit-eks"] == "0.18.0"
    assert versions["json"] == "0.7.0"


@pytest.mark.parametrize("event_file, field, expected", [
    ("create_nginx_pod_privileged.json", "ka.req.pod.containers.privileged", ["true"]),
    ("create_nginx_pod_sensitive_mount.json", "ka.req.pod.volumes.hostpath", ["/etc"]),
    ("create_nginx_pod_hostnetwork.json", "ka.req.pod.host_network", "true"),
    ("create_clusterrolebinding.json", "ka.req.binding.role", "system:basic-user"),
    ("attach_pod.json", "ka.target.subresource", "attach"),
    ("delete_configmap.json", "ka.verb", "delete"),
])
def test_upstream_events(conformance: Any, event_file: str, field: str, expected: Any) -> None:
    (event,) = decode_payload((conformance / "k8saudit" / "events" / event_file).read_bytes())
    assert x(event, field) == expected
