"""Local field table and dict-backed events for the condition tests (imported by conftest and tests).

Tests use this table, not the real field registry, so they do not depend on the real field modules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.fields.base import ArgKind, ArgMode, FieldSpec, FieldType


class DictEvent:
    """An event whose field values come from a plain dict (``name`` or ``name[arg]`` keys)."""

    source = "syscall"
    ts = 0

    def __init__(self, values: dict[str, Any], evt_type: str | None = None) -> None:
        self.values = values
        self.evt_type = evt_type
        self.cache: dict[Any, Any] = {}
        self.calls: list[str] = []


def _extractor(name: str) -> Callable[[Any, Any], Any]:
    def extract(event: DictEvent, arg: Any) -> Any:
        key = name if arg is None else f"{name}[{arg}]"
        event.calls.append(key)
        return event.values.get(key)

    return extract


def _spec(name: str, ftype: FieldType, **kw: Any) -> FieldSpec:
    return FieldSpec(name, ftype, extract=_extractor(name), **kw)


TABLE: dict[str, FieldSpec] = {
    s.name: s
    for s in [
        _spec("evt.type", FieldType.STRING),
        _spec("evt.num", FieldType.UINT64),
        _spec("evt.rawres", FieldType.INT64),
        _spec("evt.latency", FieldType.DOUBLE),
        _spec("evt.buffer", FieldType.BYTEBUF),
        _spec(
            "evt.arg", FieldType.STRING, arg=ArgMode.REQUIRED, arg_kind=ArgKind.INDEX_OR_KEY, dotted_arg=True
        ),
        _spec("proc.name", FieldType.STRING),
        _spec("proc.pname", FieldType.STRING),
        _spec("proc.cmdline", FieldType.STRING),
        _spec("proc.aname", FieldType.STRING, arg=ArgMode.OPTIONAL, arg_kind=ArgKind.INDEX),
        _spec("proc.args", FieldType.STRING, is_list=True),
        _spec("proc.pid", FieldType.PID),
        _spec("fd.name", FieldType.FSPATH),
        _spec("fd.sip", FieldType.IPADDR),
        _spec("fd.snet", FieldType.IPNET),
        _spec("fd.ips", FieldType.IPADDR, is_list=True),
        _spec("fd.sport", FieldType.PORT),
        _spec("container.privileged", FieldType.BOOL),
        _spec("k8s.pod.label", FieldType.STRING, arg=ArgMode.REQUIRED, dotted_arg=True),
        _spec("ka.uri.param", FieldType.STRING, arg=ArgMode.REQUIRED),
        _spec("ka.req.pod.containers.image", FieldType.STRING, is_list=True),
        _spec("ka.resp.code", FieldType.STRING),
    ]
}
