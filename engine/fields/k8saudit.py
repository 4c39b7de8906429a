"""Field table for the ``k8s_audit`` source: the k8saudit plugin's ``ka.*`` fields and the json plugin's ``jevt.*``.

Owns: the ``FieldSpec`` table (names, list-ness, argument forms) and the extractors that read a decoded
``AuditEvent.obj``. Semantics follow the falcosecurity k8saudit plugin (0.18.x) and json plugin (0.7.x):
* every value is a string; JSON strings are taken as they are, every other JSON value (numbers, booleans,
  objects, arrays) is rendered as compact JSON text, so ``true`` becomes ``"true"`` and ``201`` ``"201"``;
* a value whose path is absent is missing (``None``); a list field whose result is empty is missing too;
* per-container fields fan out over ``containers`` (and the ``initContainers``/``ephemeralContainers``
  variants); an optional ``[N]`` argument picks the N-th container (or rule, port, volume, source IP);
* where the plugin documents one behaviour and its code does another, the documented one is implemented:
  ``eff_run_as_user``/``eff_run_as_group`` combine the pod and container *security contexts* (default "0"),
  ``add_capabilities``/``command``/``args`` list individual items, ``ka.sourceips`` reads the top-level
  ``sourceIPs`` and ``ka.req.service.ports`` lists one JSON text per port.
Values that need work beyond a couple of dict lookups are cached per event in ``event.cache``.

Must not: decode payloads (``engine.sources.k8s_audit_event`` does that once), raise on odd events, or import
anything beyond the standard library and orjson.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType

K8SAUDIT_PLUGIN_VERSION = "0.18.0"
JSON_PLUGIN_VERSION = "0.7.0"
_ABSENT: Any = object()
S = FieldType.STRING


def render(value: Any) -> str:
    """A JSON value as the plugins render it: strings as-is, anything else as compact JSON text."""
    if type(value) is str:
        return value
    return orjson.dumps(value).decode()


def _get(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if type(value) is not dict:
            return _ABSENT
        value = value.get(key, _ABSENT)
        if value is _ABSENT:
            return _ABSENT
    return value


def _fan_out(value: Any, keys: tuple[str, ...], index: int | None) -> list[Any] | None:
    """Walk ``keys``; at every array met on the way take each element (or only ``[index]``).

    Elements where the rest of the path is absent contribute ``_ABSENT`` (skipped later), like the plugin's
    nil entries. Returns None when the path is absent before any array.
    """
    for i, key in enumerate(keys):
        if type(value) is list:
            if index is None:
                out: list[Any] = []
                for item in value:
                    got = _fan_out(item, keys[i:], None)
                    out.extend(got if got is not None else (_ABSENT,))
                return out
            if index >= len(value):
                return None
            value = value[index]
        if type(value) is not dict:
            return None
        value = value.get(key, _ABSENT)
        if value is _ABSENT:
            return None
    return [value]


def _strings(values: list[Any] | None, *, flatten: bool = False) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        if v is _ABSENT or v is None:
            continue
        if flatten and type(v) is list:
            out.extend(render(x) for x in v if x is not None)
        else:
            out.append(render(v))
    return out or None


def _cached(name: str, fn: Callable[[dict[str, Any], Any], Any]) -> Callable[[Any, Any], Any]:
    def extract(event: Any, arg: Any) -> Any:
        key = (name, arg)
        cache = event.cache
        if key in cache:
            return cache[key]
        try:
            value = fn(event.obj, arg)
        except (TypeError, ValueError, AttributeError, IndexError, KeyError):
            value = None  # an odd event: the value cannot be read, so it is missing
        cache[key] = value
        return value
    return extract


def _scalar(*keys: str) -> Callable[[Any, Any], Any]:
    """A single value at a fixed path (the hot path: a few dict lookups, no cache)."""
    if len(keys) == 1:
        (k1,) = keys

        def one(event: Any, arg: Any) -> str | None:
            v = event.obj.get(k1)
            return v if v is None or type(v) is str else render(v)
        return one
    if len(keys) == 2:
        k1, k2 = keys

        def two(event: Any, arg: Any) -> str | None:
            v = event.obj.get(k1)
            if type(v) is not dict:
                return None
            v = v.get(k2)
            return v if v is None or type(v) is str else render(v)
        return two

    def many(event: Any, arg: Any) -> str | None:
        v = _get(event.obj, keys)
        if v is _ABSENT or v is None:
            return None
        return v if type(v) is str else render(v)
    return many


def _array(*keys: str) -> Callable[[dict[str, Any], Any], Any]:
    """A JSON array at a fixed path, one string per element; not an array -> missing."""
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        v = _get(obj, keys)
        if type(v) is not list:
            return None
        if arg is not None:
            v = v[arg:arg + 1]
        return [render(x) for x in v] or None
    return fn


def _fanned(*keys: str, flatten: bool = False) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        return _strings(_fan_out(obj, keys, arg), flatten=flatten)
    return fn


def _images(kind: str, *, repository: bool) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        values = _fan_out(obj, ("requestObject", "spec", kind, "image"), arg)
        if not values or any(v is _ABSENT or v is None for v in values):
            return None  # the plugin fails the whole extraction when one container has no image
        images = [render(v) for v in values]
        if repository:
            return [img.split(":", 1)[0].split("@", 1)[0] for img in images]
        return images
    return fn


def _first(fn: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    def first(obj: dict[str, Any], arg: Any) -> str | None:
        values = fn(obj, 0)
        return values[0] if values else None
    return first


def _host_ports(kind: str) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        per_container = _fan_out(obj, ("requestObject", "spec", kind, "ports"), arg)
        out: list[str] = []
        for ports in per_container or ():
            if type(ports) is not list:
                continue
            for port in ports:
                if type(port) is not dict:
                    continue
                value = port.get("hostPort", port.get("containerPort"))
                if value is not None:
                    out.append(render(value))
        return out or None
    return fn


def _effective(kind: str, key: str) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        pod = _get(obj, ("requestObject", "spec", "securityContext", key))
        default = "0" if pod is _ABSENT or pod is None else render(pod)
        containers = _get(obj, ("requestObject", "spec", kind))
        if type(containers) is not list:
            return None
        if arg is not None:
            containers = containers[arg:arg + 1]
        out = []
        for item in containers:
            v = _get(item, ("securityContext", key))
            out.append(default if v is _ABSENT or v is None else render(v))
        return out or None
    return fn


def _any_privileged(obj: dict[str, Any], arg: Any) -> str | None:
    values = _fan_out(obj, ("requestObject", "spec", "containers", "securityContext", "privileged"), None)
    if values is None:
        return None
    return "true" if any(v is True for v in values) else "false"


def _volume_hostpath(obj: dict[str, Any], arg: Any) -> str | None:
    paths = _strings(_fan_out(obj, ("requestObject", "spec", "volumes", "hostPath", "path"), None)) or []
    if _get(obj, ("requestObject", "spec", "volumes")) is _ABSENT:
        return None
    want = str(arg)
    if want.endswith("*"):
        return "true" if any(p.startswith(want[:-1]) for p in paths) else "false"
    return "true" if want in paths else "false"


def _volume_types(obj: dict[str, Any], arg: Any) -> list[str] | None:
    volumes = _fan_out(obj, ("requestObject", "spec", "volumes"), None)
    if not volumes or type(volumes[0]) is not list:
        return None
    chosen = volumes[0] if arg is None else volumes[0][arg:arg + 1]
    return [k for vol in chosen if type(vol) is dict for k in vol if k != "name"] or None


def _uri_param(obj: dict[str, Any], arg: Any) -> str | None:
    uri = obj.get("requestURI")
    if type(uri) is not str:
        return None
    values = parse_qs(urlsplit(uri).query, keep_blank_values=True).get(str(arg))
    return values[0] if values else None


def _subjects(kind: str, *, with_ns: bool = False) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        subjects = _get(obj, ("requestObject", "subjects"))
        if type(subjects) is not list:
            return None
        out = []
        for s in subjects:
            if type(s) is dict and s.get("kind") == kind and isinstance(s.get("name"), str):
                out.append(f"{s.get('namespace', '')}:{s['name']}" if with_ns else s["name"])
        return out or None
    return fn


def _rules_field(key: str) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        out: list[str] = []
        for v in _fan_out(obj, ("requestObject", "rules", key), arg) or ():
            if type(v) is list:
                out.extend(render(x) for x in v if x is not None)
        return out or None
    return fn


def _target_pod_name(obj: dict[str, Any], arg: Any) -> str | None:
    ref = obj.get("objectRef")
    if type(ref) is dict and ref.get("resource") == "pods" and isinstance(ref.get("name"), str):
        return ref["name"]
    return None


def _cluster_name(event: Any, arg: Any) -> str | None:
    name = getattr(event, "cluster_name", None)
    return name if isinstance(name, str) and name else None


def _f(name: str, desc: str, extract: Callable[[Any, Any], Any], *, is_list: bool = False,
       arg: ArgMode = ArgMode.NONE, arg_kind: ArgKind = ArgKind.INDEX, deprecated: bool = False) -> FieldSpec:
    return FieldSpec(name=name, type=S, desc=desc, is_list=is_list, arg=arg, arg_kind=arg_kind,
                     extract=extract, deprecated=deprecated)


def _lst(name: str, desc: str, fn: Callable[[dict[str, Any], Any], Any], *, indexed: bool = True) -> FieldSpec:
    return _f(name, desc, _cached(name, fn), is_list=True, arg=ArgMode.OPTIONAL if indexed else ArgMode.NONE)


def _container_fields(kind: str, label: str) -> list[FieldSpec]:
    p = f"ka.req.pod.{kind}"
    sc = ("requestObject", "spec", kind, "securityContext")
    return [
        _lst(f"{p}.name", f"{label} names", _fanned("requestObject", "spec", kind, "name")),
        _lst(f"{p}.image", f"{label} images", _images(kind, repository=False)),
        _lst(f"{p}.image.repository", f"{label} image repositories (no tag or digest)",
             _images(kind, repository=True)),
        _lst(f"{p}.command", f"{label} command items", _fanned("requestObject", "spec", kind, "command",
                                                                flatten=True)),
        _lst(f"{p}.args", f"{label} args items", _fanned("requestObject", "spec", kind, "args", flatten=True)),
        _lst(f"{p}.host_port", f"{label} hostPort values (containerPort when no hostPort)", _host_ports(kind)),
        _lst(f"{p}.privileged", f"{label} securityContext.privileged", _fanned(*sc, "privileged")),
        _lst(f"{p}.allow_privilege_escalation", f"{label} securityContext.allowPrivilegeEscalation",
             _fanned(*sc, "allowPrivilegeEscalation")),
        _lst(f"{p}.read_only_fs", f"{label} securityContext.readOnlyRootFilesystem",
             _fanned(*sc, "readOnlyRootFilesystem")),
        _lst(f"{p}.run_as_user", f"{label} securityContext.runAsUser", _fanned(*sc, "runAsUser")),
        _lst(f"{p}.eff_run_as_user", f"{label} effective uid (container, else pod security context, else 0)",
             _effective(kind, "runAsUser")),
        _lst(f"{p}.run_as_group", f"{label} securityContext.runAsGroup", _fanned(*sc, "runAsGroup")),
        _lst(f"{p}.eff_run_as_group", f"{label} effective gid (container, else pod security context, else 0)",
             _effective(kind, "runAsGroup")),
        _lst(f"{p}.proc_mount", f"{label} securityContext.procMount", _fanned(*sc, "procMount")),
        _lst(f"{p}.add_capabilities", f"{label} capabilities added", _fanned(*sc, "capabilities", "add",
                                                                            flatten=True)),
    ]


_RO = ("requestObject",)
_SPEC = ("requestObject", "spec")
_POD_SC = ("requestObject", "spec", "securityContext")

KA_FIELDS: tuple[FieldSpec, ...] = (
    _f("ka.auditid", "The audit event's unique id", _scalar("auditID")),
    _f("ka.stage", "Request stage (RequestReceived, ResponseStarted, ResponseComplete, Panic)", _scalar("stage")),
    _f("ka.auth.decision", "The authorization decision", _scalar("annotations", "authorization.k8s.io/decision")),
    _f("ka.auth.reason", "The authorization reason", _scalar("annotations", "authorization.k8s.io/reason")),
    _f("ka.user.name", "User name of the requester", _scalar("user", "username")),
    _lst("ka.user.groups", "Groups of the requester", _array("user", "groups"), indexed=False),
    _f("ka.impuser.name", "Impersonated user name", _scalar("impersonatedUser", "username")),
    _f("ka.verb", "The action (get, list, watch, create, update, patch, delete, ...)", _scalar("verb")),
    _f("ka.uri", "The request URI as the client sent it", _scalar("requestURI")),
    _f("ka.uri.param", "First value of query parameter X of the request URI", _cached("ka.uri.param", _uri_param),
       arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY),
    _f("ka.target.name", "Target object name", _scalar("objectRef", "name")),
    _f("ka.target.namespace", "Target object namespace", _scalar("objectRef", "namespace")),
    _f("ka.target.resource", "Target object resource", _scalar("objectRef", "resource")),
    _f("ka.target.subresource", "Target object subresource", _scalar("objectRef", "subresource")),
    _f("ka.target.pod.name", "Target pod name (when the target resource is pods)",
       _cached("ka.target.pod.name", _target_pod_name)),
    _lst("ka.req.binding.subjects", "Binding subjects, one JSON text each", _array(*_RO, "subjects"),
         indexed=False),
    _lst("ka.req.binding.subjects.user_names", "Binding subjects of kind User", _subjects("User"), indexed=False),
    _lst("ka.req.binding.subjects.serviceaccount_names", "Binding subjects of kind ServiceAccount",
         _subjects("ServiceAccount"), indexed=False),
    _lst("ka.req.binding.subjects.serviceaccount_ns_names", "ServiceAccount subjects as namespace:name",
         _subjects("ServiceAccount", with_ns=True), indexed=False),
    _lst("ka.req.binding.subjects.group_names", "Binding subjects of kind Group", _subjects("Group"),
         indexed=False),
    _f("ka.req.binding.role", "Role a binding refers to", _scalar(*_RO, "roleRef", "name")),
    _f("ka.req.binding.subject.has_name", "Deprecated; always \"true\", kept for old rules",
       lambda event, arg: "true", arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY, deprecated=True),
    _f("ka.req.configmap.name", "ConfigMap name (the target object name)", _scalar("objectRef", "name")),
    _f("ka.req.configmap.obj", "ConfigMap data as JSON text", _cached("ka.req.configmap.obj", lambda o, a: (
        None if (v := _get(o, (*_RO, "data"))) is _ABSENT or v is None else render(v)))),
    *_container_fields("containers", "Containers'"),
    _f("ka.req.container.image", "Deprecated: image of the first container",
       _cached("ka.req.container.image", _first(_images("containers", repository=False))), deprecated=True),
    _f("ka.req.container.image.repository", "Deprecated: image repository of the first container",
       _cached("ka.req.container.image.repository", _first(_images("containers", repository=True))),
       deprecated=True),
    _f("ka.req.pod.host_ipc", "Pod hostIPC flag", _scalar(*_SPEC, "hostIPC")),
    _f("ka.req.pod.host_network", "Pod hostNetwork flag", _scalar(*_SPEC, "hostNetwork")),
    _f("ka.req.container.host_network", "Deprecated alias of ka.req.pod.host_network",
       _scalar(*_SPEC, "hostNetwork"), deprecated=True),
    _f("ka.req.pod.host_pid", "Pod hostPID flag", _scalar(*_SPEC, "hostPID")),
    _f("ka.req.container.privileged", "Deprecated: \"true\" when any container is privileged",
       _cached("ka.req.container.privileged", _any_privileged), deprecated=True),
    _f("ka.req.pod.run_as_user", "Pod security context runAsUser", _scalar(*_POD_SC, "runAsUser")),
    _f("ka.req.pod.run_as_group", "Pod security context runAsGroup", _scalar(*_POD_SC, "runAsGroup")),
    _lst("ka.req.role.rules", "Role rules, one JSON text each", _array(*_RO, "rules"), indexed=False),
    _lst("ka.req.role.rules.apiGroups", "apiGroups of the role's rules", _rules_field("apiGroups")),
    _lst("ka.req.role.rules.nonResourceURLs", "nonResourceURLs of the role's rules",
         _rules_field("nonResourceURLs")),
    _lst("ka.req.role.rules.verbs", "Verbs of the role's rules", _rules_field("verbs")),
    _lst("ka.req.role.rules.resources", "Resources of the role's rules", _rules_field("resources")),
    _f("ka.req.pod.fs_group", "Pod security context fsGroup", _scalar(*_POD_SC, "fsGroup")),
    _lst("ka.req.pod.supplemental_groups", "Pod security context supplementalGroups",
         _array(*_POD_SC, "supplementalGroups"), indexed=False),
    _f("ka.req.service.type", "Service type", _scalar(*_SPEC, "type")),
    _lst("ka.req.service.ports", "Service ports, one JSON text each", _array(*_SPEC, "ports")),
    _lst("ka.req.pod.volumes.hostpath", "hostPath paths of the pod's volumes",
         _fanned(*_SPEC, "volumes", "hostPath", "path")),
    _f("ka.req.volume.hostpath", "Deprecated: \"true\" when a volume uses host path X (X* = prefix)",
       _cached("ka.req.volume.hostpath", _volume_hostpath), arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY,
       deprecated=True),
    _lst("ka.req.pod.volumes.flexvolume_driver", "flexVolume drivers of the pod's volumes",
         _fanned(*_SPEC, "volumes", "flexVolume", "driver")),
    _lst("ka.req.pod.volumes.volume_type", "Volume types (the keys of each volume but name)", _volume_types),
    _f("ka.resp.name", "Response object name", _scalar("responseObject", "metadata", "name")),
    _f("ka.response.code", "Response status code", _scalar("responseStatus", "code")),
    _f("ka.response.reason", "Response status reason", _scalar("responseStatus", "reason")),
    _f("ka.useragent", "User agent of the client", _scalar("userAgent")),
    _lst("ka.sourceips", "Client IP addresses", _array("sourceIPs")),
    _f("ka.cluster.name", "Cluster name, when the source was configured with one", _cluster_name),
    *_container_fields("initContainers", "Init containers'"),
    *_container_fields("ephemeralContainers", "Ephemeral containers'"),
)


_POINTERS: dict[str, tuple[str, ...] | None] = {}


def _pointer_tokens(pointer: str) -> tuple[str, ...] | None:
    """``/a/b~1c`` -> ("a", "b/c") (RFC 6901); None for text that is not a pointer. Memoized per pointer."""
    tokens = _POINTERS.get(pointer, _ABSENT)
    if tokens is _ABSENT:
        if pointer == "":
            tokens = ()
        elif pointer.startswith("/"):
            tokens = tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))
        else:
            tokens = None
        if len(_POINTERS) < 4096:
            _POINTERS[pointer] = tokens
    return tokens  # type: ignore[no-any-return]


def json_pointer(value: Any, pointer: str) -> Any:
    """Resolve an RFC 6901 pointer (``/a/0/b``, ``~1`` = ``/``, ``~0`` = ``~``); ``_ABSENT`` when absent."""
    tokens = _pointer_tokens(pointer)
    if tokens is None:
        return _ABSENT
    for token in tokens:
        if type(value) is dict:
            value = value.get(token, _ABSENT)
            if value is _ABSENT:
                return _ABSENT
        elif type(value) is list and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return _ABSENT
    return value


def _jevt_value(event: Any, arg: Any) -> str | None:
    """Strings are returned straight from the decoded event; rendered objects are cached per event."""
    v = json_pointer(event.obj, str(arg))
    if v is _ABSENT or v is None or type(v) is str:
        return None if v is _ABSENT else v
    key = ("json.value", arg)
    cache = event.cache
    if key not in cache:
        cache[key] = render(v)
    return cache[key]  # type: ignore[no-any-return]


def _json_fields(prefix: str) -> tuple[FieldSpec, ...]:
    return (
        _f(f"{prefix}.value", "Value at JSON pointer X of the event, as text", _jevt_value,
           arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY),
        _f(f"{prefix}.obj", "The whole event as JSON text", _cached("json.obj", lambda o, a: render(o))),
        _f(f"{prefix}.rawtime", "The event time in nanoseconds since the epoch, as text",
           lambda event, arg: str(event.ts)),
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
