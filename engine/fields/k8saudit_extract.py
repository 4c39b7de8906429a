"""Extractors for the ``k8s_audit`` field table: reading values out of a decoded audit event, as the k8saudit
(0.18.x) and json (0.7.x) plugins do.

Owns: the path walking, fan-out over containers/rules/volumes, rendering of non-string JSON values, RFC 6901
pointers, the per-event cache wrapper, and the choice, per path, of where an event holds its value: its typed
header (``engine.events.k8s_audit.HEAD_PATHS``), one raw member parsed on first use (``requestObject``,
``responseObject``, ``annotations``), or the whole decoded event; an event decoded whole (``head is None``) is
read from ``obj`` alone. Both ways give the same value for every field. The field names, list-ness and argument forms live in the table,
``engine.fields.k8saudit``; each helper here builds or is an extractor ``(event, arg) -> value | None``.

Must not: declare fields, decode payloads, or raise on odd events (a value that cannot be read is missing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from engine.events.k8s_audit import ABSENT as _ABSENT
from engine.events.k8s_audit import HEAD_INTS, HEAD_PATHS, RAW_MEMBERS, RAW_PATHS

ABSENT: Any = _ABSENT


def render(value: Any) -> str:
    """A JSON value as the plugins render it: strings as-is, anything else as compact JSON text."""
    if type(value) is str:
        return value
    return orjson.dumps(value).decode()


def get_path(value: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if type(value) is not dict:
            return ABSENT
        value = value.get(key, ABSENT)
        if value is ABSENT:
            return ABSENT
    return value


def fan_out(value: Any, keys: tuple[str, ...], index: int | None) -> list[Any] | None:
    """Walk ``keys``; at every array met on the way take each element (or only ``[index]``).

    Elements where the rest of the path is absent contribute ``ABSENT`` (skipped later), like the plugin's
    nil entries. Returns None when the path is absent before any array.
    """
    for i, key in enumerate(keys):
        if type(value) is list:
            if index is None:
                out: list[Any] = []
                for item in value:
                    got = fan_out(item, keys[i:], None)
                    out.extend(got if got is not None else (ABSENT,))
                return out
            if index >= len(value):
                return None
            value = value[index]
        if type(value) is not dict:
            return None
        value = value.get(key, ABSENT)
        if value is ABSENT:
            return None
    return [value]


def as_strings(values: list[Any] | None, *, flatten: bool = False) -> list[str] | None:
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


def _view(event: Any, reads: str) -> dict[str, Any]:
    """What an extractor reading only top-level member ``reads`` needs of the event: that member alone. A member
    the header keeps raw is parsed from its text (the rest of the event is not decoded); a member the header
    types (``requestURI``) is read from it, None standing for absent or ``null`` alike (give such a member only
    to a function that treats both alike)."""
    if reads in RAW_MEMBERS:
        value = event.member(reads)
    else:
        head = event.head
        value = event.obj.get(reads, ABSENT) if head is None else getattr(head, reads)
    return {} if value is ABSENT else {reads: value}


def cached(name: str, fn: Callable[[dict[str, Any], Any], Any], *,
           reads: str | None = None) -> Callable[[Any, Any], Any]:
    """``fn(obj, arg)`` once per event and argument. ``reads``: the one top-level member ``fn`` reads (it is then
    given only that member, so the rest of the event need not be decoded); None: ``fn`` gets the whole event."""
    def extract(event: Any, arg: Any) -> Any:
        key = (name, arg)
        cache = event.cache
        if key in cache:
            return cache[key]
        try:
            value = fn(event.obj if reads is None else _view(event, reads), arg)
        except (TypeError, ValueError, AttributeError, IndexError, KeyError):
            value = None  # an odd event: the value cannot be read, so it is missing
        cache[key] = value
        return value
    return extract


def _head_getter(chain: str) -> Callable[[Any], Any]:
    attrs = chain.split(".")
    if len(attrs) == 1:
        (a1,) = attrs
        return lambda head: getattr(head, a1)
    a1, a2 = attrs
    return lambda head: getattr(getattr(head, a1), a2)


def _typed_scalar(keys: tuple[str, ...], chain: str) -> Callable[[Any, Any], Any]:
    """A path the typed header answers: read from ``head``, or from ``obj`` for an event decoded whole."""
    get = _head_getter(chain)
    dict_path = _dict_scalar(keys)

    def typed(event: Any, arg: Any) -> str | None:
        head = event.head
        if head is None:
            return dict_path(event, arg)  # type: ignore[no-any-return]
        v = get(head)
        return v if v is None or type(v) is str else str(v)  # the header holds strings and ints
    # Generated-code form (see ``engine.condition.codegen``): the header read inline, the call for what is not a
    # string (an int from the header is rendered by the call, as is any value of an event decoded whole).
    typed.inline = lambda arg, event, call: (  # type: ignore[attr-defined]
        f"(_jv if (_jv := (_jh.{chain} if (_jh := {event}.head) is not None else {_dict_inline(keys, event)})) "
        f"is None or type(_jv) is str else {call})")
    typed.head_value = lambda arg, head: _head_text(keys, f"{head}.{chain}")  # type: ignore[attr-defined]
    return typed


def _head_text(keys: tuple[str, ...], expr: str) -> str:
    """The field's value from the header attribute at ``keys``: a string or None as it is, an int as its text."""
    return f"(None if (_jv := {expr}) is None else str(_jv))" if keys in HEAD_INTS else expr


def _dict_inline(keys: tuple[str, ...], event: str) -> str:
    """An expression for the raw value at a one- or two-key path of ``{event}.obj`` (None when absent)."""
    if len(keys) == 1:
        return f"{event}.obj.get({keys[0]!r})"
    return f"(None if type(_jo := {event}.obj.get({keys[0]!r})) is not dict else _jo.get({keys[1]!r}))"


def _raw_prefix(keys: tuple[str, ...]) -> int:
    """How many leading keys of ``keys`` name a part the header keeps raw (0: none)."""
    for n in (1, 2):
        if keys[:n] in RAW_PATHS:
            return n
    return 0


def _part_scalar(keys: tuple[str, ...], n: int) -> Callable[[Any, Any], Any]:
    """A path inside a part the header keeps raw: only that part is parsed (once per event)."""
    part, rest = keys[:n], keys[n:]

    def extract(event: Any, arg: Any) -> str | None:
        v = event.part(part)
        if rest and v is not ABSENT:
            v = get_path(v, rest)
        if v is ABSENT or v is None:
            return None
        return v if type(v) is str else render(v)
    return extract


def scalar(*keys: str) -> Callable[[Any, Any], Any]:
    """A single value at a fixed path (the hot path: a few attribute or dict lookups, no cache)."""
    chain = HEAD_PATHS.get(keys)
    if chain is not None:
        return _typed_scalar(keys, chain)
    n = _raw_prefix(keys)
    return _part_scalar(keys, n) if n else _dict_scalar(keys)


def _dict_scalar(keys: tuple[str, ...]) -> Callable[[Any, Any], Any]:
    """A single value at a fixed path of the whole decoded event."""
    if len(keys) == 1:
        (k1,) = keys

        def one(event: Any, arg: Any) -> str | None:
            v = event.obj.get(k1)
            return v if v is None or type(v) is str else render(v)
        one.inline = lambda arg, event, call: (  # type: ignore[attr-defined]
            f"(_jv if (_jv := {event}.obj.get({k1!r})) is None or type(_jv) is str else {call})")
        return one
    if len(keys) == 2:
        k1, k2 = keys

        def two(event: Any, arg: Any) -> str | None:
            v = event.obj.get(k1)
            if type(v) is not dict:
                return None
            v = v.get(k2)
            return v if v is None or type(v) is str else render(v)
        two.inline = lambda arg, event, call: (  # type: ignore[attr-defined]
            f"(None if type(_jo := {event}.obj.get({k1!r})) is not dict else "
            f"(_jv if (_jv := _jo.get({k2!r})) is None or type(_jv) is str else {call}))")
        return two

    def many(event: Any, arg: Any) -> str | None:
        v = get_path(event.obj, keys)
        if v is ABSENT or v is None:
            return None
        return v if type(v) is str else render(v)
    return many


def part_list(*keys: str) -> Callable[[Any, Any], Any]:
    """A JSON array the header keeps raw (``sourceIPs``, ``user.groups``), one string per element; ``[N]`` picks
    one; not an array, or empty -> missing. Parsed once per event (an event decoded whole reads ``obj``)."""
    def extract(event: Any, arg: Any) -> list[str] | None:
        v = event.part(keys)
        if type(v) is not list:
            return None
        if arg is not None:
            v = v[arg:arg + 1]
        return [render(x) for x in v] or None
    return extract


def array_at(*keys: str) -> Callable[[dict[str, Any], Any], Any]:
    """A JSON array at a fixed path, one string per element; not an array -> missing."""
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        v = get_path(obj, keys)
        if type(v) is not list:
            return None
        if arg is not None:
            v = v[arg:arg + 1]
        return [render(x) for x in v] or None
    return fn


def rendered(*keys: str) -> Callable[[dict[str, Any], Any], Any]:
    """The value at a fixed path as text (objects rendered as JSON): for big values, used with ``cached``."""
    def fn(obj: dict[str, Any], arg: Any) -> str | None:
        v = get_path(obj, keys)
        return None if v is ABSENT or v is None else render(v)
    return fn


def fanned(*keys: str, flatten: bool = False) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        return as_strings(fan_out(obj, keys, arg), flatten=flatten)
    return fn


def images(kind: str, *, repository: bool) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        values = fan_out(obj, ("requestObject", "spec", kind, "image"), arg)
        if not values or any(v is ABSENT or v is None for v in values):
            return None  # the plugin fails the whole extraction when one container has no image
        images = [render(v) for v in values]
        if repository:
            return [img.split(":", 1)[0].split("@", 1)[0] for img in images]
        return images
    return fn


def first_of(fn: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
    def first(obj: dict[str, Any], arg: Any) -> str | None:
        values = fn(obj, 0)
        return values[0] if values else None
    return first


def host_ports(kind: str) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
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


def effective(kind: str, key: str) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
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


def any_privileged(obj: dict[str, Any], arg: Any) -> str | None:
    values = fan_out(obj, ("requestObject", "spec", "containers", "securityContext", "privileged"), None)
    if values is None:
        return None
    return "true" if any(v is True for v in values) else "false"


def volume_hostpath(obj: dict[str, Any], arg: Any) -> str | None:
    paths = as_strings(fan_out(obj, ("requestObject", "spec", "volumes", "hostPath", "path"), None)) or []
    if get_path(obj, ("requestObject", "spec", "volumes")) is ABSENT:
        return None
    want = str(arg)
    if want.endswith("*"):
        return "true" if any(p.startswith(want[:-1]) for p in paths) else "false"
    return "true" if want in paths else "false"


def volume_types(obj: dict[str, Any], arg: Any) -> list[str] | None:
    volumes = fan_out(obj, ("requestObject", "spec", "volumes"), None)
    if not volumes or type(volumes[0]) is not list:
        return None
    chosen = volumes[0] if arg is None else volumes[0][arg:arg + 1]
    return [k for vol in chosen if type(vol) is dict for k in vol if k != "name"] or None


# What makes a request URI need the full URL and query parsers: escapes and '+' (unquoted), a fragment, characters
# urlsplit removes. A plain path with a query ("/api/v1/...?a=b&c") is split here directly, with the same result.
_NEEDS_PARSERS = re.compile(r"[%+#\t\r\n]")


def uri_param(obj: dict[str, Any], arg: Any) -> str | None:
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


def subjects(kind: str, *, with_ns: bool = False) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        subjects = get_path(obj, ("requestObject", "subjects"))
        if type(subjects) is not list:
            return None
        out = []
        for s in subjects:
            if type(s) is dict and s.get("kind") == kind and isinstance(s.get("name"), str):
                out.append(f"{s.get('namespace', '')}:{s['name']}" if with_ns else s["name"])
        return out or None
    return fn


def rules_field(key: str) -> Callable[[dict[str, Any], Any], Any]:
    def fn(obj: dict[str, Any], arg: Any) -> list[str] | None:
        out: list[str] = []
        for v in fan_out(obj, ("requestObject", "rules", key), arg) or ():
            if type(v) is list:
                out.extend(render(x) for x in v if x is not None)
        return out or None
    return fn


def _target_pod_name_head(arg: Any, head: str) -> str:
    return f"({head}.objectRef.name if {head}.objectRef.resource == 'pods' else None)"


def target_pod_name(event: Any, arg: Any) -> str | None:
    head = event.head
    if head is not None:
        ref = head.objectRef
        return ref.name if ref.resource == "pods" else None
    obj = event.obj
    ref = obj.get("objectRef") if type(obj) is dict else None
    if type(ref) is dict and ref.get("resource") == "pods" and isinstance(ref.get("name"), str):
        return ref["name"]  # type: ignore[no-any-return]
    return None


target_pod_name.head_value = _target_pod_name_head  # type: ignore[attr-defined]  # read by the output formatter


def cluster_name(event: Any, arg: Any) -> str | None:
    name = getattr(event, "cluster_name", None)
    return name if isinstance(name, str) and name else None


_POINTERS: dict[str, tuple[str, ...] | None] = {}


def pointer_tokens(pointer: str) -> tuple[str, ...] | None:
    """``/a/b~1c`` -> ("a", "b/c") (RFC 6901); None for text that is not a pointer. Memoized per pointer."""
    tokens = _POINTERS.get(pointer, ABSENT)
    if tokens is ABSENT:
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
    """Resolve an RFC 6901 pointer (``/a/0/b``, ``~1`` = ``/``, ``~0`` = ``~``); ``ABSENT`` when absent."""
    tokens = pointer_tokens(pointer)
    return ABSENT if tokens is None else _walk(value, tokens)


def _walk(value: Any, tokens: tuple[str, ...]) -> Any:
    for token in tokens:
        if type(value) is dict:
            value = value.get(token, ABSENT)
            if value is ABSENT:
                return ABSENT
        elif type(value) is list and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return ABSENT
    return value


_HEAD_GETTERS = {path: _head_getter(chain) for path, chain in HEAD_PATHS.items()}


def _pointed(event: Any, pointer: str) -> Any:
    """The value at ``pointer`` of the event: from the typed header when it answers the path (None: absent or
    null, which the json fields treat alike), from the one raw member the path is in, else from the whole event."""
    tokens = pointer_tokens(pointer)
    if tokens is None:
        return ABSENT
    if tokens:
        head = event.head
        if head is not None:
            get = _HEAD_GETTERS.get(tokens)
            if get is not None:
                return get(head)
        n = _raw_prefix(tokens)
        if n:
            return _walk(event.part(tokens[:n]), tokens[n:])
    return _walk(event.obj, tokens)


def jevt_value(event: Any, arg: Any) -> str | None:
    """Strings are returned as they are; rendered objects are cached per event (the generated code reads
    one-token pointers inline, see ``_jevt_value_inline``)."""
    v = _pointed(event, str(arg))
    if v is ABSENT:
        return None
    if v is None or type(v) is str:
        return v
    key = ("json.value", arg)
    cache = event.cache
    if key not in cache:
        cache[key] = render(v)
    return cache[key]  # type: ignore[no-any-return]


def _jevt_value_inline(arg: Any, event: str, call: str) -> str | None:
    """Generated-code form of ``jevt_value`` for a one-token pointer (``/stage``): the header or dict read inline,
    the call only for values that need rendering. Same results as the call."""
    tokens = pointer_tokens(arg) if type(arg) is str else None
    if tokens is None or len(tokens) != 1 or tokens in RAW_PATHS:
        return None
    chain = HEAD_PATHS.get(tokens)
    if chain is not None:
        return (f"(_jv if (_jv := (_jh.{chain} if (_jh := {event}.head) is not None else "
                f"(_jo.get({tokens[0]!r}) if type(_jo := {event}.obj) is dict else None))) is None "
                f"or type(_jv) is str else {call})")
    return (f"(_jv if type(_jo := {event}.obj) is dict and ((_jv := _jo.get({tokens[0]!r})) is None "
            f"or type(_jv) is str) else {call})")


def _jevt_value_head(arg: Any, head: str) -> str | None:
    """``jevt_value`` read from the typed header, for a pointer the header answers."""
    tokens = pointer_tokens(arg) if type(arg) is str else None
    chain = HEAD_PATHS.get(tokens) if tokens else None
    return None if chain is None else _head_text(tokens, f"{head}.{chain}")  # type: ignore[arg-type]


jevt_value.inline = _jevt_value_inline  # type: ignore[attr-defined]  # read by engine.condition.codegen
jevt_value.head_value = _jevt_value_head  # type: ignore[attr-defined]  # read by the output formatter


def rawtime(event: Any, arg: Any) -> str:
    return str(event.ts)


rawtime.inline = lambda arg, event, call: f"str({event}.ts)"  # type: ignore[attr-defined]
# The value is the decimal text of ``ts`` (never missing): codegen compares it with literals as an integer.
rawtime.int_text = lambda arg, event: f"{event}.ts"  # type: ignore[attr-defined]
