"""Where a k8s audit event keeps each value, and the accessors that read it there, for the ``k8s_audit`` field
table (``engine.fields.k8saudit``).

Owns: the choice, per JSON path, between the event's typed header (``engine.events.k8s_audit.HEAD_PATHS``), one
raw part parsed on first use (``RAW_PATHS``: ``requestObject``, ``responseObject``, ``annotations``, ...) and the
whole decoded event; the scalar and list accessors built on it, RFC 6901 pointers (``jevt.value``), the per-event
cache wrapper (``cached``) and the generated-code hooks the condition compiler and the output formatter read
(``inline``, ``int_text``, ``head_value``). An event read through its header (``HeaderEvent``) is read from its
typed members where they answer; an event decoded whole (``DecodedEvent``) from ``obj`` alone; both forms give
the same value for every field.

Must not: declare fields, decode payloads, or raise on odd events (a value that cannot be read is missing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from engine.events.k8s_audit import (
    ABSENT,
    HEAD_INTS,
    HEAD_PATHS,
    RAW_MEMBERS,
    RAW_PATHS,
    AuditEvent,
    HeaderEvent,
)
from engine.fields.k8saudit_extract import Helper, JsonObject, array_strings, get_path, render
from engine.fields.k8saudit_pod import NO_NAME, PodRequest, pod_of, response_name

A = TypeVar("A")
# What the table's extractors are: ``(event, arg) -> value | None`` on this source's events.
TextExtractor = Callable[[AuditEvent, object], str | None]

__all__ = ["cached", "cluster_name", "jevt_value", "json_pointer", "part_list", "pointer_tokens",
           "rawtime", "scalar", "target_pod_name"]


def _view(event: AuditEvent, reads: str) -> JsonObject:
    """What an extractor reading only top-level member ``reads`` needs of the event: that member alone. A member
    the header keeps raw is parsed from its text (the rest of the event is not decoded); a member the header
    types (``requestURI``) is read from it, None standing for absent or ``null`` alike (give such a member only
    to a function that treats both alike)."""
    if reads in RAW_MEMBERS:
        value = event.member(reads)
    elif type(event) is HeaderEvent and (reads,) in HEAD_PATHS:
        value = getattr(event, reads)
    else:
        value = event.obj.get(reads, ABSENT)
    return {} if value is ABSENT else {reads: value}


_MISS: Final = object()


def cached(name: str, fn: Helper[A], *, reads: str | None = None,
           typed: Callable[[PodRequest], object] | None = None) -> Callable[[AuditEvent, A], object]:
    """``fn(obj, arg)`` once per event and argument. ``reads``: the one top-level member ``fn`` reads (it is then
    given only that member, so the rest of the event need not be decoded); None: ``fn`` gets the whole event.
    ``typed``: the same value read from the typed pod view (``k8saudit_pod``), used without an argument when the
    event has that view."""
    part = (reads,) if reads in RAW_MEMBERS else None  # a member kept raw: read with ``event.part`` directly

    def extract(event: AuditEvent, arg: A) -> object:
        key = (name, arg)
        cache = event._cache  # the slot itself (``event.cache`` makes it on first use): read per extraction
        if cache is None:
            cache = event._cache = {}
        else:
            value = cache.get(key, _MISS)
            if value is not _MISS:
                return value
        try:
            if typed is not None and arg is None and (pod := pod_of(event)) is not None:
                value = typed(pod)
            elif part is not None:
                member = event.part(part)
                value = fn({} if member is ABSENT else {part[0]: member}, arg)
            else:
                value = fn(event.obj if reads is None else _view(event, reads), arg)
        except (TypeError, ValueError, AttributeError, IndexError, KeyError):
            value = None  # an odd event: the value cannot be read, so it is missing
        cache[key] = value
        return value
    return extract


def _head_getter(chain: str) -> Callable[[HeaderEvent], object]:
    attrs = chain.split(".")
    if len(attrs) == 1:
        (a1,) = attrs
        return lambda head: getattr(head, a1)
    a1, a2 = attrs
    return lambda head: getattr(getattr(head, a1), a2)


def _typed_scalar(keys: tuple[str, ...], chain: str) -> TextExtractor:
    """A path the typed header answers: read from the event's typed members, or from ``obj`` for an event decoded
    whole."""
    get = _head_getter(chain)
    dict_path = _dict_scalar(keys)

    def typed(event: AuditEvent, arg: object) -> str | None:
        if type(event) is not HeaderEvent:
            return dict_path(event, arg)
        v = get(event)
        return v if v is None or type(v) is str else str(v)  # the header holds strings and ints
    # Generated-code form (see ``engine.condition.codegen``): the header read inline, the call for what is not a
    # string (an int from the header is rendered by the call, as is any value of an event decoded whole).
    typed.inline = lambda arg, event, call: (  # type: ignore[attr-defined]
        f"(_jv if (_jv := ({event}.{chain} if {event}.has_header else {_dict_inline(keys, event)})) "
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


def _part_scalar(keys: tuple[str, ...], n: int) -> TextExtractor:
    """A path inside a part the header keeps raw: only that part is parsed (once per event)."""
    part, rest = keys[:n], keys[n:]

    def extract(event: AuditEvent, arg: object) -> str | None:
        v = event.part(part)
        if rest and v is not ABSENT:
            v = get_path(v, rest)
        if v is ABSENT or v is None:
            return None
        return v if type(v) is str else render(v)
    return extract


def scalar(*keys: str) -> TextExtractor:
    """A single value at a fixed path (the hot path: a few attribute or dict lookups, no cache)."""
    chain = HEAD_PATHS.get(keys)
    if chain is not None:
        return _typed_scalar(keys, chain)
    n = _raw_prefix(keys)
    return _part_scalar(keys, n) if n else _dict_scalar(keys)


def response_name_scalar() -> TextExtractor:
    """``scalar("responseObject", "metadata", "name")``, read from the typed view when the event has one."""
    general = scalar("responseObject", "metadata", "name")

    def extract(event: AuditEvent, arg: object) -> str | None:
        name = response_name(event)
        return general(event, arg) if name is NO_NAME else name  # type: ignore[return-value]  # str or None
    return extract


def pod_scalar(keys: tuple[str, ...], typed: Callable[[PodRequest], object]) -> TextExtractor:
    """``scalar(*keys)`` for a path the typed pod view answers (``typed``), read from the view when the event
    has one."""
    general = scalar(*keys)

    def extract(event: AuditEvent, arg: object) -> str | None:
        pod = pod_of(event)
        return general(event, arg) if pod is None else typed(pod)  # type: ignore[return-value]  # text or None
    return extract


def _dict_scalar(keys: tuple[str, ...]) -> TextExtractor:
    """A single value at a fixed path of the whole decoded event."""
    if len(keys) == 1:
        (k1,) = keys

        def one(event: AuditEvent, arg: object) -> str | None:
            v = event.obj.get(k1)
            return v if v is None or type(v) is str else render(v)
        one.inline = lambda arg, event, call: (  # type: ignore[attr-defined]
            f"(_jv if (_jv := {event}.obj.get({k1!r})) is None or type(_jv) is str else {call})")
        return one
    if len(keys) == 2:
        k1, k2 = keys

        def two(event: AuditEvent, arg: object) -> str | None:
            v = event.obj.get(k1)
            if type(v) is not dict:
                return None
            v = v.get(k2)
            return v if v is None or type(v) is str else render(v)
        two.inline = lambda arg, event, call: (  # type: ignore[attr-defined]
            f"(None if type(_jo := {event}.obj.get({k1!r})) is not dict else "
            f"(_jv if (_jv := _jo.get({k2!r})) is None or type(_jv) is str else {call}))")
        return two

    def many(event: AuditEvent, arg: object) -> str | None:
        v = get_path(event.obj, keys)
        if v is ABSENT or v is None:
            return None
        return v if type(v) is str else render(v)
    return many


def part_list(*keys: str) -> Callable[[AuditEvent, int | None], list[str] | None]:
    """A JSON array the header keeps raw (``sourceIPs``, ``user.groups``), one string per element; ``[N]`` picks
    one; not an array, or empty -> missing. Parsed once per event (an event decoded whole reads ``obj``)."""
    def extract(event: AuditEvent, arg: int | None) -> list[str] | None:
        return array_strings(event.part(keys), arg)
    return extract


def _target_pod_name_head(arg: object, head: str) -> str:
    return f"({head}.objectRef.name if {head}.objectRef.resource == 'pods' else None)"


def target_pod_name(event: AuditEvent, arg: object) -> str | None:
    if type(event) is HeaderEvent:
        ref = event.objectRef
        return ref.name if ref.resource == "pods" else None
    obj = event.obj
    target = obj.get("objectRef") if type(obj) is dict else None
    if type(target) is dict and target.get("resource") == "pods":
        name = target.get("name")
        return name if isinstance(name, str) else None
    return None


target_pod_name.head_value = _target_pod_name_head  # type: ignore[attr-defined]  # read by the output formatter


def cluster_name(event: AuditEvent, arg: object) -> str | None:
    name = getattr(event, "cluster_name", None)
    return name if isinstance(name, str) and name else None


_POINTERS: dict[str, tuple[str, ...] | None] = {}


def pointer_tokens(pointer: str) -> tuple[str, ...] | None:
    """``/a/b~1c`` -> ("a", "b/c") (RFC 6901); None for text that is not a pointer. Memoized per pointer."""
    try:
        return _POINTERS[pointer]
    except KeyError:
        pass
    tokens: tuple[str, ...] | None = None
    if pointer == "":
        tokens = ()
    elif pointer.startswith("/"):
        tokens = tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))
    if len(_POINTERS) < 4096:
        _POINTERS[pointer] = tokens
    return tokens


def json_pointer(value: object, pointer: str) -> object:
    """Resolve an RFC 6901 pointer (``/a/0/b``, ``~1`` = ``/``, ``~0`` = ``~``); ``ABSENT`` when absent."""
    tokens = pointer_tokens(pointer)
    return ABSENT if tokens is None else _walk(value, tokens)


def _walk(value: object, tokens: tuple[str, ...]) -> object:
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


def _pointed(event: AuditEvent, pointer: str) -> object:
    """The value at ``pointer`` of the event: from the typed header when it answers the path (None: absent or
    null, which the json fields treat alike), from the one raw member the path is in, else from the whole event."""
    tokens = pointer_tokens(pointer)
    if tokens is None:
        return ABSENT
    if tokens:
        if type(event) is HeaderEvent:
            get = _HEAD_GETTERS.get(tokens)
            if get is not None:
                return get(event)
        n = _raw_prefix(tokens)
        if n:
            return _walk(event.part(tokens[:n]), tokens[n:])
    return _walk(event.obj, tokens)


def jevt_value(event: AuditEvent, arg: object) -> str | None:
    """Strings are returned as they are; rendered objects are cached per event (the generated code reads
    one-token pointers inline, see ``_jevt_value_inline``)."""
    v = _pointed(event, str(arg))
    if v is ABSENT:
        return None
    if v is None or type(v) is str:
        return v
    key = ("json.value", arg)
    cache = event.cache
    text = cache.get(key)
    if type(text) is not str:
        text = cache[key] = render(v)
    return text


def _jevt_value_inline(arg: object, event: str, call: str) -> str | None:
    """Generated-code form of ``jevt_value`` for a one-token pointer (``/stage``): the header or dict read inline,
    the call only for values that need rendering. Same results as the call."""
    tokens = pointer_tokens(arg) if type(arg) is str else None
    if tokens is None or len(tokens) != 1 or tokens in RAW_PATHS:
        return None
    chain = HEAD_PATHS.get(tokens)
    if chain is not None:
        return (f"(_jv if (_jv := ({event}.{chain} if {event}.has_header else "
                f"(_jo.get({tokens[0]!r}) if type(_jo := {event}.obj) is dict else None))) is None "
                f"or type(_jv) is str else {call})")
    return (f"(_jv if type(_jo := {event}.obj) is dict and ((_jv := _jo.get({tokens[0]!r})) is None "
            f"or type(_jv) is str) else {call})")


def _jevt_value_head(arg: object, head: str) -> str | None:
    """``jevt_value`` read from the typed header, for a pointer the header answers."""
    tokens = pointer_tokens(arg) if type(arg) is str else None
    chain = HEAD_PATHS.get(tokens) if tokens else None
    return None if chain is None or tokens is None else _head_text(tokens, f"{head}.{chain}")


jevt_value.inline = _jevt_value_inline  # type: ignore[attr-defined]  # read by engine.condition.codegen
jevt_value.head_value = _jevt_value_head  # type: ignore[attr-defined]  # read by the output formatter


def rawtime(event: AuditEvent, arg: object) -> str:
    return str(event.ts)


rawtime.inline = lambda arg, event, call: f"str({event}.ts)"  # type: ignore[attr-defined]
# The value is the decimal text of ``ts`` (never missing): codegen compares it with literals as an integer.
rawtime.int_text = lambda arg, event: f"{event}.ts"  # type: ignore[attr-defined]
