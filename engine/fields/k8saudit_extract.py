"""Extractors for the ``k8s_audit`` field table: reading values out of a decoded audit event, as the k8saudit
(0.18.x) and json (0.7.x) plugins do.

Owns: the path walking, fan-out over containers/rules/volumes and rendering of non-string JSON values: the
helpers ``fn(obj, arg)`` that read a decoded object (the request object, mostly), which the table wraps with
``engine.fields.k8saudit_access.cached``. The field names, list-ness and argument forms live in the table,
``engine.fields.k8saudit``; each helper here builds or is an extractor ``(event, arg) -> value | None``.

Must not: declare fields, decode payloads, know where an event keeps a value (``k8saudit_access`` does), or
raise on odd events (a value that cannot be read is missing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import orjson

from engine.events.k8s_audit import ABSENT

# A decoded JSON value is read as ``object`` and narrowed where it is used (``type(v) is dict`` ...): it is
# whatever orjson made of the event, or ``ABSENT`` for a path that is not there.
JsonObject = dict[str, object]
A = TypeVar("A")
# A helper ``fn(obj, arg) -> value | None`` over a decoded object (the table wraps it with ``cached``); ``arg``
# is the field's argument: an index (``int | None``) or a key (``str``), as the field declares.
Helper = Callable[[JsonObject, A], object]
IndexHelper = Callable[[JsonObject, int | None], object]
ListHelper = Callable[[JsonObject, int | None], list[str] | None]


def render(value: object) -> str:
    """A JSON value as the plugins render it: strings as-is, anything else as compact JSON text."""
    if type(value) is str:
        return value
    return orjson.dumps(value).decode()


def get_path(value: object, keys: tuple[str, ...]) -> object:
    for key in keys:
        if type(value) is not dict:
            return ABSENT
        value = value.get(key, ABSENT)
        if value is ABSENT:
            return ABSENT
    return value


def fan_out(value: object, keys: tuple[str, ...], index: int | None) -> list[object] | None:
    """Walk ``keys``; at every array met on the way take each element (or only ``[index]``).

    Elements where the rest of the path is absent contribute ``ABSENT`` (skipped later), like the plugin's
    nil entries. Returns None when the path is absent before any array.
    """
    i = 0
    for key in keys:
        if type(value) is not dict:  # the common step is an object: one check for it
            if type(value) is not list:
                return None
            if index is None:
                rest = keys[i:]
                out: list[object] = []
                for item in value:
                    got = fan_out(item, rest, None)
                    if got is None:
                        out.append(ABSENT)
                    else:
                        out.extend(got)
                return out
            if index >= len(value):
                return None
            value = value[index]
            if type(value) is not dict:
                return None
        value = value.get(key, ABSENT)
        if value is ABSENT:
            return None
        i += 1  # noqa: SIM113 - no tuple per step: this walk runs for every container field read
    return [value]


def as_strings(values: list[object] | None, *, flatten: bool = False) -> list[str] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        if v is ABSENT or v is None:
            continue
        if flatten and type(v) is list:
            out.extend(render(x) for x in v if x is not None)
        else:
            out.append(render(v))
    return out or None


def array_strings(value: object, index: int | None) -> list[str] | None:
    """One string per element of a JSON array (only the ``index``-th when given); not an array, or empty -> None."""
    if type(value) is not list:
        return None
    if index is not None:
        value = value[index:index + 1]
    return [render(x) for x in value] or None


def array_at(*keys: str) -> IndexHelper:
    """A JSON array at a fixed path, one string per element; not an array -> missing."""
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        return array_strings(get_path(obj, keys), arg)
    return fn


def rendered(*keys: str) -> IndexHelper:
    """The value at a fixed path as text (objects rendered as JSON): for big values, used with ``cached``."""
    def fn(obj: JsonObject, arg: int | None) -> str | None:
        v = get_path(obj, keys)
        return None if v is ABSENT or v is None else render(v)
    return fn


def fanned(*keys: str, flatten: bool = False) -> IndexHelper:
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        return as_strings(fan_out(obj, keys, arg), flatten=flatten)
    return fn


def images(kind: str, *, repository: bool) -> ListHelper:
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        values = fan_out(obj, ("requestObject", "spec", kind, "image"), arg)
        if not values or ABSENT in values or None in values:  # JSON values: == is identity for these two
            return None  # the plugin fails the whole extraction when one container has no image
        images = [render(v) for v in values]
        if repository:
            return [img.split(":", 1)[0].split("@", 1)[0] for img in images]
        return images
    return fn


def first_of(fn: ListHelper) -> IndexHelper:
    def first(obj: JsonObject, arg: int | None) -> str | None:
        values = fn(obj, 0)
        return values[0] if values else None
    return first


def host_ports(kind: str) -> IndexHelper:
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        per_container = fan_out(obj, ("requestObject", "spec", kind, "ports"), arg)
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


def effective(kind: str, key: str) -> IndexHelper:
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        pod = get_path(obj, ("requestObject", "spec", "securityContext", key))
        default = "0" if pod is ABSENT or pod is None else render(pod)
        containers = get_path(obj, ("requestObject", "spec", kind))
        if type(containers) is not list:
            return None
        if arg is not None:
            containers = containers[arg:arg + 1]
        out = []
        for item in containers:
            v = get_path(item, ("securityContext", key))
            out.append(default if v is ABSENT or v is None else render(v))
        return out or None
    return fn


def any_privileged(obj: JsonObject, arg: object) -> str | None:
    values = fan_out(obj, ("requestObject", "spec", "containers", "securityContext", "privileged"), None)
    if values is None:
        return None
    return "true" if any(v is True for v in values) else "false"


def volume_hostpath(obj: JsonObject, arg: str) -> str | None:
    paths = as_strings(fan_out(obj, ("requestObject", "spec", "volumes", "hostPath", "path"), None)) or []
    if get_path(obj, ("requestObject", "spec", "volumes")) is ABSENT:
        return None
    want = str(arg)
    if want.endswith("*"):
        return "true" if any(p.startswith(want[:-1]) for p in paths) else "false"
    return "true" if want in paths else "false"


def volume_types(obj: JsonObject, arg: int | None) -> list[str] | None:
    volumes = fan_out(obj, ("requestObject", "spec", "volumes"), None)
    if not volumes or type(volumes[0]) is not list:
        return None
    chosen = volumes[0] if arg is None else volumes[0][arg:arg + 1]
    return [k for vol in chosen if type(vol) is dict for k in vol if k != "name"] or None


# What makes a request URI need the full URL and query parsers: escapes and '+' (unquoted), a fragment, characters
# urlsplit removes. A plain path with a query ("/api/v1/...?a=b&c") is split here directly, with the same result.
_NEEDS_PARSERS = re.compile(r"[%+#\t\r\n]")


def uri_param(obj: JsonObject, arg: str) -> str | None:
    uri = obj.get("requestURI")
    if type(uri) is not str:
        return None
    key = str(arg)
    if uri[:1] == "/" and uri[1:2] != "/" and _NEEDS_PARSERS.search(uri) is None:
        for item in uri.partition("?")[2].split("&"):
            name, _, value = item.partition("=")
            if item and name == key:
                return value
        return None
    values = parse_qs(urlsplit(uri).query, keep_blank_values=True).get(key)
    return values[0] if values else None


def subjects(kind: str, *, with_ns: bool = False) -> IndexHelper:
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        subjects = get_path(obj, ("requestObject", "subjects"))
        if type(subjects) is not list:
            return None
        out = []
        for s in subjects:
            if type(s) is dict and s.get("kind") == kind and isinstance(s.get("name"), str):
                out.append(f"{s.get('namespace', '')}:{s['name']}" if with_ns else s["name"])
        return out or None
    return fn


def rules_field(key: str) -> IndexHelper:
    def fn(obj: JsonObject, arg: int | None) -> list[str] | None:
        out: list[str] = []
        for v in fan_out(obj, ("requestObject", "rules", key), arg) or ():
            if type(v) is list:
                out.extend(render(x) for x in v if x is not None)
        return out or None
    return fn
