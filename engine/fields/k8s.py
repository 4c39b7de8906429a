"""Field table for ``k8s.*`` on syscall events: the pod of the event's container (the container plugin's fields).

Owns: the ``k8s`` field class (pod name, uid, labels, ip, namespace). Values come from the pod metadata the
container plugin would attach, which our backends put on ``SyscallEvent.container``; a process outside a pod has
them missing. ``k8s.pod.label[KEY]`` and ``k8s.pod.label.KEY`` read one label.

Must not: talk to the API server (``engine.state`` watches pods) or read ``k8s_audit`` events (``ka.*`` does).
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.fields.base import ArgKind, ArgMode, FieldClass, FieldSpec, FieldType
from engine.fields.container import CONTAINER_PLUGIN, CONTAINER_PLUGIN_VERSION, label_extractors

T = FieldType


def _attr(name: str) -> Any:
    def extract(event: Any, _arg: Any) -> Any:
        c = event.container
        return None if c is None else getattr(c, name)
    return extract


_label, _labels = label_extractors("pod_labels")


def _cni(event: Any, _arg: Any) -> str | None:
    c = event.container
    return None if c is None or not c.pod_ip else orjson.dumps({"ips": [c.pod_ip]}).decode()


def _full_sandbox(event: Any, _arg: Any) -> str | None:
    c = event.container
    return None if c is None else c.pod_sandbox_id


def _f(name: str, ftype: FieldType, desc: str, extract: Any, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, type=ftype, desc=desc, extract=extract, **kw)


_FIELDS = (
    _f("k8s.pod.name", T.STRING, "pod name.", _attr("pod_name")),
    _f("k8s.ns.name", T.STRING, "pod namespace.", _attr("pod_namespace")),
    _f("k8s.pod.uid", T.STRING, "pod uid.", _attr("pod_uid")),
    _f("k8s.pod.id", T.STRING, "pod uid (older name of k8s.pod.uid).", _attr("pod_uid")),
    _f("k8s.pod.sandbox_id", T.STRING, "pod sandbox id (12 characters).",
       lambda e, a: None if e.container is None or not e.container.pod_sandbox_id
       else e.container.pod_sandbox_id[:12]),
    _f("k8s.pod.full_sandbox_id", T.STRING, "full pod sandbox id.", _full_sandbox),
    _f("k8s.pod.label", T.STRING, "one pod label: k8s.pod.label[app] or k8s.pod.label.app.", _label,
       arg=ArgMode.REQUIRED, arg_kind=ArgKind.KEY, dotted_arg=True),
    _f("k8s.pod.labels", T.STRING, "every pod label as key:value, comma separated.", _labels),
    _f("k8s.pod.ip", T.STRING, "pod IP address.", _attr("pod_ip")),
    _f("k8s.pod.cni.json", T.STRING, "pod CNI result as JSON (addresses only).", _cni),
)

FIELD_CLASSES = (
    FieldClass(name="k8s", sources=("syscall",), fields=_FIELDS, plugin=CONTAINER_PLUGIN,
               plugin_version=CONTAINER_PLUGIN_VERSION,
               desc="Kubernetes pod metadata of the event's container (fields of the Falco container plugin)."),
)
