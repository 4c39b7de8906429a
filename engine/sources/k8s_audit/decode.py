"""Kubernetes audit payloads -> ``AuditEvent``s: the one decoder of the ``k8s_audit`` source.

Owns: the checks that make JSON an audit ``Event`` (``kind``, ``auditID``, ``stageTimestamp``) and their errors
(``AuditDecodeError``), the header pass (``read_event``: one event's text into an ``AuditEvent`` read through its
typed ``EventHead``), ``split_batch`` (an ``EventList`` or array into its items' texts), ``decode_payload`` (a
JSON ``Event``, an ``EventList`` or a JSON array of events, as the kube-apiserver webhook backend and audit log
files send them, decoded whole), ``decode_stream`` (many payloads, decoded as they are read, the rejected ones
reported by position), the cluster mark (``in_cluster``) and the RFC 3339 timestamp parser.

Must not: extract fields (that is ``engine.fields.k8saudit``), define the event model (``engine.events.k8s_audit``
does), read files or sockets (sources do), or know rules.

An event is read in one typed pass when it can be (msgspec, ``EventHead``): the checks, the rule-index key and the
members the common fields read are typed; ``requestObject``, ``responseObject``, ``annotations`` and a few rarely
read members (``engine.events.k8s_audit.RAW_PATHS``) are kept as raw JSON text (their syntax checked, nothing
built) and parsed only when a field reads them; the whole event is
decoded into ``.obj`` (orjson, once) only when something needs more (``jevt.obj``, a pointer the header does not
answer). Most audit traffic (reads, watches, lease renewals) and most alerts need nothing beyond the header.
Text that is not plain ASCII, and events whose members are not of the types the header expects, are decoded
whole at once, so every check and error stays the same. The one difference: a number too large for a double
(``1e400``, which kube-apiserver never writes) in a member the header pass skips is not rejected; if a field
later reads that member, the parse fails there and is counted as that rule's evaluation error.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterable, Iterator

import msgspec
import orjson

from engine.events.k8s_audit import AuditEvent, EventHead, HeaderEvent

NOT_AUDIT = "data not recognized as a k8s audit event"

# 2018-10-25T14:09:12Z, 2018-10-25T14:09:12.123456Z, ...123456789+02:00
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d{2}:?\d{2})$")


class AuditDecodeError(ValueError):
    """A payload that is not JSON, or JSON that is not a Kubernetes audit event. ``str()`` says which."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index  # position of the offending item inside an EventList/array, if any


def _parse_slow(text: str) -> int:
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise AuditDecodeError(f"invalid RFC3339 timestamp {text!r}")
    year, month, day, hour, minute, sec = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    tz = m.group(8)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and sec <= 60):
        raise AuditDecodeError(f"invalid RFC3339 timestamp {text!r}")
    secs = calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0))
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * 1_000_000_000 + int(frac.ljust(9, "0") or 0)


# Seconds part ("2018-10-25T14:09:12") -> ns since the epoch. Events arrive in time order, so a small cache of
# recent seconds turns nearly every timestamp into one dict lookup plus the fraction. Only the general parser
# fills it, so a key found there is a valid date and time.
_SECONDS: dict[str, int] = {}
_SECONDS_MAX = 1024
# kube-apiserver's form, "2018-10-25T14:09:12.123456Z", read as seconds + ".123" + "456Z": the two fraction
# tables hold exactly the valid spellings of those parts, so three lookups both check and convert the stamp.
_MILLIS = {f".{n:03d}": n * 1_000_000 for n in range(1000)}
_MICROS_Z = {f"{n:03d}Z": n * 1000 for n in range(1000)}


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 time (seconds to nanoseconds precision, any offset) -> int nanoseconds since the epoch."""
    try:
        return _SECONDS[text[:19]] + _MILLIS[text[19:23]] + _MICROS_Z[text[23:]]  # kube-apiserver's form
    except (KeyError, TypeError):
        pass
    if type(text) is str and len(text) >= 20 and text[-1] == "Z":
        frac = text[19:-1]
        if not frac or (frac[0] == "." and 1 < len(frac) <= 10 and frac[1:].isdigit() and frac.isascii()):
            head = text[:19]
            base = _SECONDS.get(head)
            if base is None:
                base = _parse_slow(head + "Z")
                if len(_SECONDS) >= _SECONDS_MAX:
                    _SECONDS.clear()
                _SECONDS[head] = base
            return base + int(frac[1:].ljust(9, "0")) if frac else base
    return _parse_slow(text)


_read_header = msgspec.json.Decoder(EventHead).decode


class _Batch(msgspec.Struct, gc=False):
    """An ``EventList`` (or any object) with its ``items`` left as JSON text, one ``Raw`` slice each."""

    kind: str | None = None
    items: list[msgspec.Raw] | None = None


_read_batch = msgspec.json.Decoder(_Batch | list[msgspec.Raw]).decode


def from_obj(obj: object, *, raw: bytes | None = None) -> AuditEvent:
    """Validate one decoded JSON value as an audit ``Event``; raise ``AuditDecodeError`` when it is not one."""
    if type(obj) is not dict or obj.get("kind") != "Event" or type(obj.get("auditID")) is not str:
        raise AuditDecodeError(NOT_AUDIT)
    stamp = obj.get("stageTimestamp")
    if type(stamp) is not str:
        raise AuditDecodeError(f"{NOT_AUDIT}: missing stageTimestamp")
    return AuditEvent(obj, ts=parse_rfc3339_ns(stamp), raw=raw)


def events_from_json(value: object, *, raw: bytes | None = None) -> list[AuditEvent]:
    """Audit events from an already decoded ``Event``, ``EventList`` or JSON array of events."""
    if isinstance(value, dict) and value.get("kind") == "EventList":
        items = value.get("items")
        if not isinstance(items, list):
            raise AuditDecodeError(f"{NOT_AUDIT}: EventList without items")
    elif isinstance(value, list):
        items = value
    else:
        return [from_obj(value, raw=raw)]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(from_obj(item))
        except AuditDecodeError as exc:
            raise AuditDecodeError(f"item {i}: {exc.message}", index=i) from None
    return out


def decode_payload(data: bytes | str) -> list[AuditEvent]:
    """Decode one payload (an ``Event``, an ``EventList`` or a JSON array) into events.

    Raises ``AuditDecodeError`` for invalid JSON or for anything that is not an audit event.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise AuditDecodeError(f"{NOT_AUDIT}: invalid JSON ({exc})") from None
    return events_from_json(value, raw=data if type(data) is bytes else None)


def read_event(data: bytes) -> AuditEvent | None:
    """One ``Event``'s JSON text, known to be ASCII, read by the header pass (the checks, the time and the index
    key; ``obj`` is decoded on first read), or None when the header pass does not take it: not a valid ``Event``,
    or a header not in the expected JSON types. The caller then decodes it whole, which gives the same event or
    reports what is wrong. The caller checks ASCII (``bytes.isascii``) because the header pass does not check the
    UTF-8 of the members it skips; orjson, decoding whole, checks all of it."""
    try:
        head = _read_header(data)
        stamp = head.stageTimestamp
        event = _new(HeaderEvent)
        try:
            event.ts = _SECONDS[stamp[:19]] + _MILLIS[stamp[19:23]] + _MICROS_Z[stamp[23:]]
        except KeyError:  # a new second, or another spelling: raises for what is not a time
            event.ts = parse_rfc3339_ns(stamp)
        ref = head.objectRef
        event.key = (head.verb, head.stage, ref.resource, ref.subresource, head.user.username)
        event.raw = data
        event.head = head
        event._cache = event._members = None  # the model's lazily made slots (see there)
        return event
    except Exception:  # noqa: BLE001 - anything unusual is decoded whole, where it is checked and reported
        return None


def split_batch(data: bytes) -> list[bytes] | None:
    """The JSON text of each item of an ``EventList`` or JSON array payload, split without decoding the items
    (ASCII, as the whole payload is checked to be: ``read_event`` reads each), or None for any other payload (one
    ``Event``, not JSON, not ASCII, an ``EventList`` without a list of items): ``decode_payload`` decodes those
    whole and reports what is wrong."""
    try:
        if not data.isascii():
            return None
        value = _read_batch(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(value, list):
        return [bytes(item) for item in value]
    if value.kind == "EventList" and value.items is not None:
        return [bytes(item) for item in value.items]
    return None


def decode_stream(payloads: Iterable[bytes | str], *,
                  on_error: Callable[[int, AuditDecodeError], object] | None = None,
                  on_done: Callable[[int, int], object] | None = None) -> Iterator[AuditEvent]:
    """The events of many payloads (the lines of an audit log or a replay), decoded one payload at a time as
    the stream is read, so each event is used while its JSON is fresh and freed soon after.

    The events are exactly those ``decode_payload`` gives for each payload, in order; one ``Event`` per payload
    (the common case) is read by the header pass (``read_event``), anything else by ``decode_payload``.
    A payload it rejects goes to ``on_error(position, error)`` (which may raise to end the stream); without
    ``on_error`` the error is raised. ``on_done(payloads_read, events)`` hears how far the stream got when it
    ends (read to its end, failed or closed).
    """
    read = read_event
    fast = general = general_events = 0  # payloads read by the header pass (one event each); by decode_payload
    event: AuditEvent | None
    try:
        for data in payloads:
            event = read(data) if type(data) is bytes and data.isascii() else None
            if event is not None:
                fast += 1
                yield event
                continue
            general += 1
            try:
                decoded = decode_payload(data)
            except AuditDecodeError as exc:
                if on_error is None:
                    raise
                on_error(fast + general - 1, exc)
                continue
            for event in decoded:
                general_events += 1
                yield event
    finally:
        if on_done is not None:
            on_done(fast + general, fast + general_events)


def in_cluster(events: Iterable[AuditEvent], cluster_name: str) -> Iterator[AuditEvent]:
    """``events`` (read lazily, in order), each marked as coming from ``cluster_name`` (``ka.cluster.name``)."""
    for event in events:
        event.cluster_name = cluster_name
        yield event


def new_event(obj: dict[str, object], ts: int, raw: bytes | None = None) -> AuditEvent:
    """An ``AuditEvent`` for an already checked ``obj`` (``AuditEvent(obj, ts=ts, raw=raw)``, built faster)."""
    event = _new(AuditEvent)
    event.obj = obj
    event.ts = ts
    event.raw = raw
    event.head = None
    event._cache = event._members = None  # as in ``read_event``
    return event


_new = object.__new__
