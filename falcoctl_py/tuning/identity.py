"""Identity dimensions: who or what causes an alert, per event source, and how to read and change them.

Owns: the table of identity dimensions (user or service account, namespace, container image repository,
executable, parent process) with, for each, the field an exception writes, whether it is an *anchor* (a principal:
who or what acts) or a *scope* (where it acts), how to read it from an engine event, and how to make a
counterfactual copy of an event with that one dimension changed. Action fields (resource, verb, file name) are
deliberately absent: an exception names who may do what the rule watches, never the watched action itself.

Must not: decide anything about noise or proposals (``noise``, ``proposals``, ``guard`` do), or evaluate rules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

Record = dict[str, Any]  # an event's JSON object (audit Event) or record object (syscall, record format v1)


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str  # user, namespace, image, binary, parent
    source: str
    field: str  # the field an exception names
    anchor: bool  # a principal (who/what); False: a scope (where), never enough on its own
    change: Callable[[Record], bool]  # edit the record to another identity; False when the event has none
    comp: str = "="  # "in" for a list-valued field: every value must be one of the exception's (Falco's ``in``)


def _audit_user(obj: Record) -> bool:
    user = obj.get("user")
    if not isinstance(user, dict) or not user.get("username"):
        return False
    name = str(user["username"])
    user["username"] = ("system:serviceaccount:falcopy-counterfactual:intruder"
                        if name.startswith("system:serviceaccount:") else "intruder@counterfactual.invalid")
    return True


def _audit_impuser(obj: Record) -> bool:
    imp = obj.get("impersonatedUser")
    if not isinstance(imp, dict) or not imp.get("username"):
        return False
    imp["username"] = "intruder@counterfactual.invalid"
    return True


def _audit_namespace(obj: Record) -> bool:
    ref = obj.get("objectRef")
    if not isinstance(ref, dict) or not ref.get("namespace"):
        return False
    ref["namespace"] = "falcopy-counterfactual"
    for key in ("requestObject", "responseObject"):
        meta = (obj.get(key) or {}).get("metadata") if isinstance(obj.get(key), dict) else None
        if isinstance(meta, dict) and "namespace" in meta:
            meta["namespace"] = "falcopy-counterfactual"
    return True


def _audit_image(obj: Record) -> bool:
    spec = (obj.get("requestObject") or {}).get("spec") if isinstance(obj.get("requestObject"), dict) else None
    if not isinstance(spec, dict):
        return False
    changed = False
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict) and c.get("image"):
                c["image"] = "registry.counterfactual.invalid/falcopy/intruder:1"
                changed = True
    return changed


def _proc(obj: Record, depth: int) -> Record | None:
    procs = obj.get("procs")
    if isinstance(procs, list) and len(procs) > depth and isinstance(procs[depth], dict):
        return procs[depth]
    return None


def _sys_image(obj: Record) -> bool:
    c = obj.get("container")
    if not isinstance(c, dict) or not c.get("image_repository"):
        return False
    c["image_repository"] = "registry.counterfactual.invalid/falcopy/intruder"
    c["image"] = c["image_repository"] + ":1"
    return True


def _sys_namespace(obj: Record) -> bool:
    c = obj.get("container")
    if not isinstance(c, dict) or not c.get("pod_namespace"):
        return False
    c["pod_namespace"] = "falcopy-counterfactual"
    return True


def _rename(p: Record, path: str) -> None:
    p["exepath"] = p["exe"] = path
    p["name"] = path.rsplit("/", 1)[-1][:15]
    args = p.get("args") or []
    p["cmdline"] = " ".join([p["name"], *map(str, args)])


def _sys_binary(obj: Record) -> bool:
    p = _proc(obj, 0)
    if p is None or not p.get("exepath"):
        return False
    directory, _, name = str(p["exepath"]).rpartition("/")
    # Another program in the same directory; the comm (proc.name) stays, since rules often pin it.
    p["exepath"] = p["exe"] = f"{directory}/cf-{name}"
    return True


def _sys_name(obj: Record) -> bool:
    p = _proc(obj, 0)
    if p is None or not p.get("name"):
        return False
    p["name"] = ("cf-" + str(p["name"]))[:15]
    return True


def _sys_parent(obj: Record) -> bool:
    p = _proc(obj, 1)
    if p is None or not p.get("name"):
        return False
    _rename(p, "/usr/local/bin/cf-intruder")
    return True


def _sys_user(obj: Record) -> bool:
    p = _proc(obj, 0)
    if p is None or p.get("uid") is None:
        return False
    p["uid"] = p["euid"] = 4242
    p["user_name"] = "cf-intruder"
    return True


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("user", "k8s_audit", "ka.user.name", True, _audit_user),
    Dimension("impersonated user", "k8s_audit", "ka.impuser.name", True, _audit_impuser),
    Dimension("namespace", "k8s_audit", "ka.target.namespace", False, _audit_namespace),
    Dimension("image", "k8s_audit", "ka.req.pod.containers.image.repository", True, _audit_image, comp="in"),
    Dimension("image", "syscall", "container.image.repository", True, _sys_image),
    Dimension("namespace", "syscall", "k8s.ns.name", False, _sys_namespace),
    Dimension("binary", "syscall", "proc.exepath", True, _sys_binary),
    Dimension("program name", "syscall", "proc.name", False, _sys_name),
    Dimension("parent", "syscall", "proc.pname", True, _sys_parent),
    Dimension("user", "syscall", "user.name", False, _sys_user),
)


def dimensions(source: str) -> tuple[Dimension, ...]:
    return tuple(d for d in DIMENSIONS if d.source == source)


def identity_fields(source: str) -> tuple[str, ...]:
    """The fields an exception may name for ``source``, anchors first (the order noise explanations prefer)."""
    dims = list(dimensions(source))
    return tuple(d.field for d in sorted(dims, key=lambda d: not d.anchor))


def anchor_fields(source: str | None = None) -> frozenset[str]:
    return frozenset(d.field for d in DIMENSIONS if d.anchor and (source is None or d.source == source))


ALL_ANCHORS = anchor_fields()
ALL_IDENTITY = frozenset(d.field for d in DIMENSIONS)
LIST_FIELDS = frozenset(d.field for d in DIMENSIONS if d.comp == "in")
LIST_SEP = "\x1f"  # joins a list field's values into one explanation value


@cache
def _formatter(source: str, fields: tuple[str, ...]) -> Any:
    from engine.outputs.formatter import OutputFormatter

    return OutputFormatter(" ".join(f"%{f}" for f in fields), source)


def read_fields(event: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The values of ``fields`` on an engine event (``None`` when missing), as an alert's output_fields."""
    if not fields:
        return {}
    try:
        return _lists(dict(_formatter(event.source, tuple(fields)).format(event)[1]))
    except Exception:  # noqa: BLE001 - a field this source cannot read: report what it can
        out: dict[str, Any] = {}
        for f in fields:
            try:
                out.update(_formatter(event.source, (f,)).format(event)[1])
            except Exception:  # noqa: BLE001
                out[f] = None
        return _lists(out)


def _lists(values: dict[str, Any]) -> dict[str, Any]:
    """List fields as lists (output_fields print them as ``(a,b)``)."""
    for f in LIST_FIELDS & values.keys():
        v = values[f]
        if isinstance(v, str) and v.startswith("(") and v.endswith(")"):
            values[f] = [x for x in v[1:-1].split(",") if x]
    return values


def record_of(event: Any) -> Record:
    """A deep copy of the event's JSON/record object, for editing."""
    if event.source == "k8s_audit":
        return copy.deepcopy(event.obj)  # type: ignore[no-any-return]
    return event.to_dict()  # type: ignore[no-any-return]


def event_of(source: str, record: Record) -> Any:
    """An engine event from a (possibly edited) record object."""
    if source == "k8s_audit":
        from engine.sources.k8s_audit.decode import decode_payload

        (event,) = decode_payload(orjson.dumps(record))
        return event
    from engine.events.syscall import SyscallEvent

    return SyscallEvent.from_dict(record)


def describe(event: Any) -> str:
    """A one-line summary of an event: who did what, for refusals and reports."""
    if event.source == "k8s_audit":
        o = event.obj
        ref = o.get("objectRef") or {}
        where = "/".join(str(x) for x in (ref.get("namespace"), ref.get("resource"), ref.get("name"),
                                           ref.get("subresource")) if x)
        images = [c.get("image") for c in ((o.get("requestObject") or {}).get("spec") or {}).get("containers") or ()
                  if isinstance(c, dict)]
        return (f"{(o.get('user') or {}).get('username')} {o.get('verb')} {where}"
                + (f" images={','.join(map(str, images))}" if images else ""))
    p = event.proc
    c = event.container
    fd = f" {event.fd.name}" if event.fd is not None and event.fd.name else ""
    who = f"{p.exepath} (parent {p.parent.name if p.parent else '?'}, user {p.user_name})" if p else "?"
    where = f" in {c.image_repository} ns={c.pod_namespace}" if c is not None else " on the host"
    return f"{event.type}{fd} by {who}{where}"


def counterfactuals(event: Any, *, skip: Collection[str] = ()) -> list[tuple[Dimension, Any]]:
    """Copies of ``event`` with one identity dimension changed each, for the dimensions the event has (fields in
    ``skip``, such as the rule's pinned ones, are left alone)."""
    out = []
    for dim in dimensions(event.source):
        if dim.field in skip:
            continue
        record = record_of(event)
        if dim.change(record):
            out.append((dim, event_of(event.source, record)))
    return out
