"""Kubernetes audit payloads -> ``AuditEvent``s: the one decoder of the ``k8s_audit`` source.

Owns: the checks that make JSON an audit ``Event`` (``kind``, ``auditID``, ``stageTimestamp``) and their errors
(``AuditDecodeError``), the header pass (``read_event``: one event's text into a ``HeaderEvent``, the typed
Struct that is the event; ``read_events``: many texts in one msgspec call), ``split_batch`` (an ``EventList`` or
array into its items' texts), ``decode_payload`` (a JSON ``Event``, an ``EventList`` or a JSON array of events, as the
kube-apiserver webhook backend and audit log files send them, decoded whole), ``decode_stream`` (many payloads,
decoded as they are read, the rejected ones reported by position), the cluster mark (``in_cluster``) and
``parse_rfc3339_ns`` (``engine.events.rfc3339`` with this module's error).

Must not: extract fields (that is ``engine.fields.k8saudit``), define the event model (``engine.events.k8s_audit``
does), read files or sockets (sources do), or know rules.

An event is read in one typed pass when it can be (msgspec, ``HeaderEvent``): the checks (``stageTimestamp`` as an
RFC 3339 time, in C; the nanoseconds are read on first use of ``ts``) and the members the rule index and the common
fields read are typed, and the Struct decoded is the event itself (no object is built per event in Python);
``requestObject``, ``responseObject``, ``annotations`` and a few rarely read members
(``engine.events.k8s_audit.RAW_PATHS``) are kept as raw JSON text (their syntax checked, nothing built) and parsed
only when a field reads them; the whole event is decoded into ``.obj`` (orjson, once) only when something needs
more (``jevt.obj``, a pointer the header does not answer). Most audit traffic (reads, watches, lease renewals)
and most alerts need nothing beyond the header.
Text that is not plain ASCII, and events whose members are not of the types the header expects, are decoded
whole at once, so every check and error stays the same. The one difference: a number too large for a double
(``1e400``, which kube-apiserver never writes) in a member the header pass skips is not rejected; if a field
later reads that member, the parse fails there and is counted as that rule's evaluation error.
"""

from __future__ import annotations

import operator
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

import msgspec
import orjson

from engine.events.k8s_audit import AuditEvent, DecodedEvent, HeaderEvent
from engine.events.rfc3339 import InvalidTime, to_ns

NOT_AUDIT = "data not recognized as a k8s audit event"


class AuditDecodeError(ValueError):
    """A payload that is not JSON, or JSON that is not a Kubernetes audit event. ``str()`` says which."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index  # position of the offending item inside an EventList/array, if any


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 time (seconds to nanoseconds precision, any offset) -> int nanoseconds since the epoch; raises
    ``AuditDecodeError`` for what is not one."""
    try:
        return to_ns(text)
    except InvalidTime as exc:
        raise AuditDecodeError(str(exc)) from None


_read_header = msgspec.json.Decoder(HeaderEvent).decode


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
    return DecodedEvent(obj, ts=parse_rfc3339_ns(stamp), raw=raw)


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


def read_event(data: bytes) -> HeaderEvent | None:
    """One ``Event``'s JSON text, known to be ASCII, read by the header pass (the checks and the typed members;
    ``obj`` is decoded on first read), or None when the header pass does not take it: not a valid ``Event``, or a
    header not in the expected JSON types. The caller then decodes it whole, which gives the same event or reports
    what is wrong. The caller checks ASCII (``bytes.isascii``) because the header pass does not check the UTF-8 of
    the members it skips; orjson, decoding whole, checks all of it."""
    try:
        event = _read_header(data)
    except (msgspec.DecodeError, msgspec.ValidationError):  # decoded whole, where it is checked and reported
        return None
    event.raw = data
    return event


# Many events' headers in one msgspec call: the texts are joined as ``[N,t0,N,t1,...,N,tn]`` with ``N`` a random
# integer drawn once per process (never written anywhere), and decoded as one array, which saves msgspec's per-call
# cost (measured with tests/bench/bench_audit_throughput.py against reading each text alone: default mix +5 %,
# alert-heavy mix 0 to +15 %; texts over ``_JOIN_MAX`` are read alone, as joining them slowed the bodies mix). The
# array splits into exactly the texts when every even element is ``N`` and there are 2n: a text cannot write ``N`` (it
# does not know it), so each ``N`` is the one put there, and msgspec's grammar then leaves exactly one value between
# two of them -- the text, parsed as it parses alone (a text that is not one whole value on its own breaks the
# pattern). Anything else is read text by text. The events' raw parts (``msgspec.Raw``) point into the joined text,
# which therefore lives as long as one of its events: fit for a stream whose events are used as they are read
# (``decode_stream``), not for events that wait in a queue (the webhook reads its items one by one).
_read_heads = msgspec.json.Decoder(list[int | HeaderEvent]).decode
_AT_ITEM = re.compile(r"at `\$\[(\d+)\]")
_RETRIES = 4  # texts refused by the joined pass before the rest of a batch is read one by one
_JOIN_MAX = 1536  # bytes: longer texts are read one by one
_NONCE: Final = secrets.randbits(62)
_MARK: Final = b"%d," % _NONCE


def read_events(texts: Sequence[bytes | str]) -> list[HeaderEvent | None]:
    """``read_event`` of each text (ASCII or not, bytes or not: such texts are None), read in one pass."""
    out: list[HeaderEvent | None] = [None] * len(texts)
    where: list[int]
    blobs: list[bytes]
    if max(map(len, texts)) <= _JOIN_MAX:
        where, blobs = list(range(len(texts))), texts  # type: ignore[assignment]  # bytes: checked below
    else:  # big events are read alone (joined, they cost more than they save)
        where, blobs = [], []
        for i, text in enumerate(texts):
            if len(text) <= _JOIN_MAX:
                where.append(i)
                blobs.append(text)  # type: ignore[arg-type]  # bytes: checked below
            elif type(text) is bytes and text.isascii():
                out[i] = read_event(text)
    try:  # the common case: the ASCII check made once, on the joined text of them all
        joined = b"[" + _MARK + (b"," + _MARK).join(blobs) + b"]"
    except TypeError:  # a text that is not bytes: never read by the header pass
        joined = b""
    if joined.isascii() and joined:
        return _read_joined(out, where, blobs, joined)
    plain = [k for k, text in enumerate(blobs) if type(text) is bytes and text.isascii()]
    where, blobs = [where[k] for k in plain], [blobs[k] for k in plain]
    return _read_joined(out, where, blobs, None)


def _read_joined(out: list[HeaderEvent | None], where: list[int], blobs: list[bytes],
                 joined: bytes | None) -> list[HeaderEvent | None]:
    """``out[where[k]]`` = the event of ``blobs[k]`` (ASCII texts), read joined (``joined``: the joined text of
    all of them, when the caller already made it); returns ``out``."""
    for _ in range(_RETRIES):
        if not blobs:
            return out
        try:
            items = _read_heads(joined or b"[" + _MARK + (b"," + _MARK).join(blobs) + b"]")
        except msgspec.ValidationError as exc:  # one text is not a plain event: read it alone, retry the rest
            found = _AT_ITEM.search(str(exc))
            if found is None or int(found[1]) % 2 == 0 or int(found[1]) // 2 >= len(blobs):
                break
            bad = int(found[1]) // 2
            where, blobs, joined = where.copy(), blobs.copy(), None  # the caller's lists stay as they were
            out[where.pop(bad)] = read_event(blobs.pop(bad))
            continue
        except msgspec.DecodeError:
            break
        n = len(blobs)
        if len(items) != 2 * n or items[0::2].count(_NONCE) != n:
            break
        for i, event, data in zip(where, items[1::2], blobs):  # of the same length, as just checked
            if type(event) is HeaderEvent:  # else a text that is a bare integer: read alone by the caller
                event.raw = data
                out[i] = event
        return out
    for i, data in zip(where, blobs, strict=True):
        out[i] = read_event(data)
    return out


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
    (the common case) is read by the header pass (``read_events``: the payloads of a list ``_CHUNK`` at a time,
    those of any other iterable one at a time), anything else by ``decode_payload``.
    A payload it rejects goes to ``on_error(position, error)`` (which may raise to end the stream); without
    ``on_error`` the error is raised. ``on_done(payloads_read, events)`` hears how far the stream got when it
    ends (read to its end, failed or closed).
    """
    fast = general = general_events = 0  # payloads read by the header pass (one event each); by decode_payload
    event: AuditEvent | None
    try:
        for chunk in _chunks(payloads):
            events = read_events(chunk)
            if None not in events:  # the common case: every payload read by the header pass
                rest = iter(events)
                try:
                    yield from rest  # type: ignore[misc]  # no None in it, as just checked
                finally:  # how many were taken, even when the stream is closed in the middle of the chunk
                    fast += len(events) - operator.length_hint(rest)
                continue
            for data, event in zip(chunk, events, strict=True):
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


_CHUNK = 64  # payloads read by one header pass in ``decode_stream``


def _chunks(payloads: Iterable[bytes | str]) -> Iterator[list[bytes | str]]:
    """A list in slices of ``_CHUNK``; any other iterable one payload at a time (it may be live: a payload is
    never held back waiting for the next)."""
    if isinstance(payloads, list):
        for start in range(0, len(payloads), _CHUNK):
            yield payloads[start:start + _CHUNK]
    else:
        for data in payloads:
            yield [data]


def in_cluster(events: Iterable[AuditEvent], cluster_name: str) -> Iterator[AuditEvent]:
    """``events`` (read lazily, in order), each marked as coming from ``cluster_name`` (``ka.cluster.name``)."""
    for event in events:
        event.cluster_name = cluster_name
        yield event


def new_event(obj: dict[str, object], ts: int, raw: bytes | None = None) -> DecodedEvent:
    """A ``DecodedEvent`` for an already checked ``obj`` (``DecodedEvent(obj, ts=ts, raw=raw)``, built faster)."""
    event = _new(DecodedEvent)
    event.obj = obj
    event.ts = ts
    event.raw = raw
    event.cluster_name = None
    event._cache = event._members = None  # as the constructor does
    return event


_new = object.__new__
