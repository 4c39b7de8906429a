"""Field table for the ``k8s_audit`` source: the k8saudit plugin's ``ka.*`` fields and the json plugin's ``jevt.*``.

Owns: the ``FieldSpec`` table (names, list-ness, argument forms, which extractor) and the plugin versions the
class declares. Semantics follow the falcosecurity k8saudit plugin (0.18.x) and json plugin (0.7.x):
* every value is a string; JSON strings are taken as they are, every other JSON value (numbers, booleans,
  objects, arrays) is rendered as compact JSON text, so ``true`` becomes ``"true"`` and ``201`` ``"201"``;
* a value whose path is absent is missing (``None``); a list field whose result is empty is missing too;
* per-container fields fan out over ``containers`` (and the ``initContainers``/``ephemeralContainers``
  variants); an optional ``[N]`` argument picks the N-th container (or rule, port, volume, source IP);
* where the plugin documents one behaviour and its code does another, the documented one is implemented:
  ``eff_run_as_user``/``eff_run_as_group`` combine the pod and container *security contexts* (default "0"),
  ``add_capabilities``/``command``/``args`` list individual items, ``ka.sourceips`` reads the top-level
  ``sourceIPs`` and ``ka.req.service.ports`` lists one JSON text per port.
Values that need work beyond a couple of lookups are cached per event in ``event.cache``; each extractor reads
only the part of the event it needs (the typed header, or one raw member such as ``requestObject``), so most
fields never decode the whole event (``engine.events.k8s_audit`` describes the two forms an event comes in).

Must not: implement extraction (``engine.fields.k8saudit_access`` and ``k8saudit_extract`` do), decode payloads
(``engine.sources.k8s_audit.decode`` does that once), or import anything beyond the standard library and orjson.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.fields import k8saudit_access as a
from engine.fields import k8saudit_extract as x
from engine.fields import k8saudit_pod as pod
from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType
from engine.fields.k8saudit_access import json_pointer
from engine.fields.k8saudit_extract import render

__all__ = ["FIELD_CLASSES", "JSON_PLUGIN_VERSION", "K8SAUDIT_PLUGIN_VERSION", "json_pointer", "render"]

K8SAUDIT_PLUGIN_VERSION = "0.18.0"
JSON_PLUGIN_VERSION = "0.7.0"
S = FieldType.STRING


def _f(name: str, desc: str, extract: Callable[[Any, Any], Any], *, is_list: bool = False,
       arg: ArgMode = ArgMode.NONE, arg_kind: ArgKind = ArgKind.INDEX, deprecated: bool = False) -> FieldSpec:
    return FieldSpec(name=name, type=S, desc=desc, is_list=is_list, arg=arg, arg_kind=arg_kind,
                     extract=extract, deprecated=deprecated)


def _lst(name: str, desc: str, fn: Callable[[dict[str, Any], Any], Any], *, indexed: bool = True,
         typed: pod.Typed | None = None) -> FieldSpec:
    """A list field read from the request object (only that member of the event is parsed; ``typed``: its form
    over the typed pod view, see ``engine.fields.k8saudit_pod``)."""
    return _f(name, desc, _req(name, fn, typed), is_list=True, arg=ArgMode.OPTIONAL if indexed else ArgMode.NONE)


def _req(name: str, fn: Callable[[dict[str, Any], Any], Any],
         typed: pod.Typed | None = None) -> Callable[[Any, Any], Any]:
    return a.cached(name, fn, reads="requestObject", typed=typed)


def _flag(name: str) -> Callable[[Any, Any], Any]:
    return a.pod_scalar(("requestObject", "spec", name), pod.flag(name))


def _container_fields(kind: str, label: str) -> list[FieldSpec]:
    p = f"ka.req.pod.{kind}"
    sc = ("requestObject", "spec", kind, "securityContext")
    return [
        _lst(f"{p}.name", f"{label} names", x.fanned("requestObject", "spec", kind, "name")),
        _lst(f"{p}.image", f"{label} images", x.images(kind, repository=False),
             typed=pod.images(kind, repository=False)),
        _lst(f"{p}.image.repository", f"{label} image repositories (no tag or digest)",
             x.images(kind, repository=True), typed=pod.images(kind, repository=True)),
        _lst(f"{p}.command", f"{label} command items", x.fanned("requestObject", "spec", kind, "command",
                                                                flatten=True)),
        _lst(f"{p}.args", f"{label} args items", x.fanned("requestObject", "spec", kind, "args", flatten=True)),
        _lst(f"{p}.host_port", f"{label} hostPort values (containerPort when no hostPort)", x.host_ports(kind)),
        _lst(f"{p}.privileged", f"{label} securityContext.privileged", x.fanned(*sc, "privileged"),
             typed=pod.privileged(kind)),
        _lst(f"{p}.allow_privilege_escalation", f"{label} securityContext.allowPrivilegeEscalation",
             x.fanned(*sc, "allowPrivilegeEscalation")),
        _lst(f"{p}.read_only_fs", f"{label} securityContext.readOnlyRootFilesystem",
             x.fanned(*sc, "readOnlyRootFilesystem")),
        _lst(f"{p}.run_as_user", f"{label} securityContext.runAsUser", x.fanned(*sc, "runAsUser")),
        _lst(f"{p}.eff_run_as_user", f"{label} effective uid (container, else pod security context, else 0)",
             x.effective(kind, "runAsUser")),
        _lst(f"{p}.run_as_group", f"{label} securityContext.runAsGroup", x.fanned(*sc, "runAsGroup")),
        _lst(f"{p}.eff_run_as_group", f"{label} effective gid (container, else pod security context, else 0)",
             x.effective(kind, "runAsGroup")),
        _lst(f"{p}.proc_mount", f"{label} securityContext.procMount", x.fanned(*sc, "procMount")),
        _lst(f"{p}.add_capabilities", f"{label} capabilities added", x.fanned(*sc, "capabilities", "add",
                                                                            flatten=True)),
    ]


_RO = ("requestObject",)
_SPEC = ("requestObject", "spec")
_POD_SC = ("requestObject", "spec", "securityContext")

KA_FIELDS: tuple[FieldSpec, ...] = (
    _f("ka.auditid", "The audit event's unique id", a.scalar("auditID")),
    _f("ka.stage", "Request stage (RequestReceived, ResponseStarted, ResponseComplete, Panic)", a.scalar("stage")),
    _f("ka.auth.decision", "The authorization decision", a.scalar("annotations", "authorization.k8s.io/decision")),
    _f("ka.auth.reason", "The authorization reason", a.scalar("annotations", "authorization.k8s.io/reason")),
    _f("ka.user.name", "User name of the requester", a.scalar("user", "username")),
    _f("ka.user.groups", "Groups of the requester", a.part_list("user", "groups"), is_list=True),
    _f("ka.impuser.name", "Impersonated user name", a.scalar("impersonatedUser", "username")),
    _f("ka.verb", "The action (get, list, watch, create, update, patch, delete, ...)", a.scalar("verb")),
    _f("ka.uri", "The request URI as the client sent it", a.scalar("requestURI")),
    _f("ka.uri.param", "First value of query parameter X of the request URI",
       a.cached("ka.uri.param", x.uri_param, reads="requestURI"),
       arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY),
    _f("ka.target.name", "Target object name", a.scalar("objectRef", "name")),
    _f("ka.target.namespace", "Target object namespace", a.scalar("objectRef", "namespace")),
    _f("ka.target.resource", "Target object resource", a.scalar("objectRef", "resource")),
    _f("ka.target.subresource", "Target object subresource", a.scalar("objectRef", "subresource")),
    _f("ka.target.pod.name", "Target pod name (when the target resource is pods)", a.target_pod_name),
    _lst("ka.req.binding.subjects", "Binding subjects, one JSON text each", x.array_at(*_RO, "subjects"),
         indexed=False),
    _lst("ka.req.binding.subjects.user_names", "Binding subjects of kind User", x.subjects("User"), indexed=False),
    _lst("ka.req.binding.subjects.serviceaccount_names", "Binding subjects of kind ServiceAccount",
         x.subjects("ServiceAccount"), indexed=False),
    _lst("ka.req.binding.subjects.serviceaccount_ns_names", "ServiceAccount subjects as namespace:name",
         x.subjects("ServiceAccount", with_ns=True), indexed=False),
    _lst("ka.req.binding.subjects.group_names", "Binding subjects of kind Group", x.subjects("Group"),
         indexed=False),
    _f("ka.req.binding.role", "Role a binding refers to", a.scalar(*_RO, "roleRef", "name")),
    _f("ka.req.binding.subject.has_name", "Deprecated; always \"true\", kept for old rules",
       lambda event, arg: "true", arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY, deprecated=True),
    _f("ka.req.configmap.name", "ConfigMap name (the target object name)", a.scalar("objectRef", "name")),
    _f("ka.req.configmap.obj", "ConfigMap data as JSON text",
       _req("ka.req.configmap.obj", x.rendered(*_RO, "data"))),
    *_container_fields("containers", "Containers'"),
    _f("ka.req.container.image", "Deprecated: image of the first container",
       _req("ka.req.container.image", x.first_of(x.images("containers", repository=False))), deprecated=True),
    _f("ka.req.container.image.repository", "Deprecated: image repository of the first container",
       _req("ka.req.container.image.repository", x.first_of(x.images("containers", repository=True))),
       deprecated=True),
    _f("ka.req.pod.host_ipc", "Pod hostIPC flag", _flag("hostIPC")),
    _f("ka.req.pod.host_network", "Pod hostNetwork flag", _flag("hostNetwork")),
    _f("ka.req.container.host_network", "Deprecated alias of ka.req.pod.host_network",
       _flag("hostNetwork"), deprecated=True),
    _f("ka.req.pod.host_pid", "Pod hostPID flag", _flag("hostPID")),
    _f("ka.req.container.privileged", "Deprecated: \"true\" when any container is privileged",
       _req("ka.req.container.privileged", x.any_privileged), deprecated=True),
    _f("ka.req.pod.run_as_user", "Pod security context runAsUser", a.scalar(*_POD_SC, "runAsUser")),
    _f("ka.req.pod.run_as_group", "Pod security context runAsGroup", a.scalar(*_POD_SC, "runAsGroup")),
    _lst("ka.req.role.rules", "Role rules, one JSON text each", x.array_at(*_RO, "rules"), indexed=False),
    _lst("ka.req.role.rules.apiGroups", "apiGroups of the role's rules", x.rules_field("apiGroups")),
    _lst("ka.req.role.rules.nonResourceURLs", "nonResourceURLs of the role's rules",
         x.rules_field("nonResourceURLs")),
    _lst("ka.req.role.rules.verbs", "Verbs of the role's rules", x.rules_field("verbs")),
    _lst("ka.req.role.rules.resources", "Resources of the role's rules", x.rules_field("resources")),
    _f("ka.req.pod.fs_group", "Pod security context fsGroup", a.scalar(*_POD_SC, "fsGroup")),
    _lst("ka.req.pod.supplemental_groups", "Pod security context supplementalGroups",
         x.array_at(*_POD_SC, "supplementalGroups"), indexed=False),
    _f("ka.req.service.type", "Service type", a.scalar(*_SPEC, "type")),
    _lst("ka.req.service.ports", "Service ports, one JSON text each", x.array_at(*_SPEC, "ports")),
    _lst("ka.req.pod.volumes.hostpath", "hostPath paths of the pod's volumes",
         x.fanned(*_SPEC, "volumes", "hostPath", "path"), typed=pod.host_paths),
    _f("ka.req.volume.hostpath", "Deprecated: \"true\" when a volume uses host path X (X* = prefix)",
       _req("ka.req.volume.hostpath", x.volume_hostpath), arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY,
       deprecated=True),
    _lst("ka.req.pod.volumes.flexvolume_driver", "flexVolume drivers of the pod's volumes",
         x.fanned(*_SPEC, "volumes", "flexVolume", "driver")),
    _lst("ka.req.pod.volumes.volume_type", "Volume types (the keys of each volume but name)", x.volume_types),
    _f("ka.resp.name", "Response object name", a.response_name_scalar()),
    _f("ka.response.code", "Response status code", a.scalar("responseStatus", "code")),
    _f("ka.response.reason", "Response status reason", a.scalar("responseStatus", "reason")),
    _f("ka.useragent", "User agent of the client", a.scalar("userAgent")),
    _f("ka.sourceips", "Client IP addresses", a.part_list("sourceIPs"), is_list=True, arg=ArgMode.OPTIONAL),
    _f("ka.cluster.name", "Cluster name: the engine config's sources.k8s_audit.cluster_name", a.cluster_name),
    *_container_fields("initContainers", "Init containers'"),
    *_container_fields("ephemeralContainers", "Ephemeral containers'"),
)


def _json_fields(prefix: str) -> tuple[FieldSpec, ...]:
    return (
        _f(f"{prefix}.value", "Value at JSON pointer X of the event, as text", a.jevt_value,
           arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY),
        _f(f"{prefix}.obj", "The whole event as JSON text", a.cached("json.obj", lambda o, a: render(o))),
        _f(f"{prefix}.rawtime", "The event time in nanoseconds since the epoch, as text",
           a.rawtime),
    )


FIELD_CLASSES: tuple[FieldClass, ...] = (
    FieldClass(name="k8saudit", sources=("k8s_audit",), fields=KA_FIELDS,
               desc="Kubernetes audit events (the k8saudit plugin's fields)", plugin="k8saudit",
               plugin_version=K8SAUDIT_PLUGIN_VERSION,
               plugin_aliases=("k8saudit-aks", "k8saudit-eks", "k8saudit-gke", "k8saudit-ovh")),
    FieldClass(name="json", sources=("k8s_audit",), fields=_json_fields("jevt") + _json_fields("json"),
               desc="Generic JSON access to the event (the json plugin's fields)", plugin="json",
               plugin_version=JSON_PLUGIN_VERSION),
)
