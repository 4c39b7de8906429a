"""``decode_stream``: many payloads decoded as they are read, with exactly ``decode_payload``'s events and errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.sources.audit_synth import synth_lines
from engine.sources.k8s_audit_event import (
    AuditDecodeError,
    AuditEvent,
    decode_payload,
    decode_stream,
    new_event,
    parse_rfc3339_ns,
)

EVENT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get",
         "objectRef": {"resource": "pods"}, "stageTimestamp": "2018-10-25T14:09:12.123456Z"}


def _odd_payloads() -> list[Any]:
    """Every shape the general path handles, good and bad, mixed with kube-apiserver's common form."""
    out: list[Any] = [orjson.dumps(EVENT)]
    for stamp in ("2018-10-25T14:09:12Z", "2018-10-25T14:09:12.5Z", "2018-10-25T14:09:12.123456789Z",
                  "2018-10-25T16:09:12.123456+02:00", "2018-10-25T14:09:12.123456z", "2018-10-25 14:09:12.123456Z",
                  "2018-13-25T14:09:12.123456Z", "2018-10-25T14:09:12.12345xZ", "2018-10-25T14:09:12,123456Z",
                  "2018-10-25T14:09:12.1234567", "2018-10-25T14:09:12.123456ZZ", "", "yesterday", None, 5):
        out.append(orjson.dumps({**EVENT, "stageTimestamp": stamp}))
    out += [b"not json", b"[]", b'"Event"', b"null", b"{}", orjson.dumps([EVENT, {**EVENT, "auditID": "y"}]),
            orjson.dumps({"kind": "EventList", "items": [EVENT]}), orjson.dumps({"kind": "EventList"}),
            orjson.dumps({**EVENT, "kind": "Pod"}), orjson.dumps({**EVENT, "auditID": 3}),
            orjson.dumps({k: v for k, v in EVENT.items() if k != "kind"}), orjson.dumps(EVENT).decode()]
    return out


def _expected(payloads: list[Any]) -> tuple[list[AuditEvent], list[tuple[int, str]]]:
    events: list[AuditEvent] = []
    errors: list[tuple[int, str]] = []
    for i, payload in enumerate(payloads):
        try:
            events += decode_payload(payload)
        except AuditDecodeError as exc:
            errors.append((i, exc.message))
    return events, errors


def _same(a: AuditEvent, b: AuditEvent) -> bool:
    return (a.obj, a.ts, a.raw, a.cache, a.cluster_name, a.source, a.evt_type) == \
        (b.obj, b.ts, b.raw, b.cache, b.cluster_name, b.source, b.evt_type)


def test_stream_gives_decode_payloads_events_and_errors() -> None:
    payloads = [*synth_lines(300, seed=3), *_odd_payloads(), *synth_lines(50, seed=4)]
    errors: list[tuple[int, str]] = []
    done: list[tuple[int, int]] = []
    got = list(decode_stream(payloads, on_error=lambda i, exc: errors.append((i, exc.message)),
                             on_done=lambda n, m: done.append((n, m))))
    want, want_errors = _expected(payloads)
    assert len(got) == len(want) and all(_same(a, b) for a, b in zip(got, want, strict=True))
    assert errors == want_errors and len(errors) >= 15
    assert done == [(len(payloads), len(want))]


def test_without_on_error_the_first_rejected_payload_raises_after_the_events_before_it() -> None:
    payloads = [orjson.dumps(EVENT), orjson.dumps({**EVENT, "auditID": "y"}), b"not json", orjson.dumps(EVENT)]
    done: list[tuple[int, int]] = []
    stream = decode_stream(payloads, on_done=lambda n, m: done.append((n, m)))
    assert [e.obj["auditID"] for e in (next(stream), next(stream))] == ["x", "y"]
    with pytest.raises(AuditDecodeError, match="invalid JSON"):
        next(stream)
    assert done == [(3, 2)]


def test_on_error_may_end_the_stream_and_on_done_hears_how_far_it_got() -> None:
    class Stop(Exception):
        pass

    def stop(position: int, exc: AuditDecodeError) -> None:
        raise Stop(position)

    done: list[tuple[int, int]] = []
    payloads = [orjson.dumps(EVENT), b"{}", orjson.dumps(EVENT)]
    stream = decode_stream(payloads, on_error=stop, on_done=lambda n, m: done.append((n, m)))
    assert next(stream).obj["auditID"] == "x"
    with pytest.raises(Stop) as info:
        next(stream)
    assert info.value.args == (1,) and done == [(2, 1)]
    closed: list[tuple[int, int]] = []
    early = decode_stream(payloads, on_done=lambda n, m: closed.append((n, m)))
    next(early)
    early.close()  # a reader that stops early
    assert closed == [(1, 1)]


def test_raw_is_kept_for_bytes_only() -> None:
    (from_bytes,) = decode_stream([orjson.dumps(EVENT)])
    (from_text,) = decode_stream([orjson.dumps(EVENT).decode()])
    assert from_bytes.raw == orjson.dumps(EVENT) and from_text.raw is None


def test_new_event_equals_the_constructor() -> None:
    a = new_event(EVENT, 5, b"raw")
    b = AuditEvent(EVENT, ts=5, raw=b"raw")
    assert _same(a, b) and a.cache is not new_event(EVENT, 5).cache


@pytest.mark.parametrize("bad", ["2018-10-25T14:09:12.12345xZ", "2018-10-25T14:09:12.1234567",
                                 "2018-13-25T14:09:12.123456Z", "2018-10-25T14:09:12,123456Z",
                                 "2018-10-25T14:09:12.123456ZZ", "2018-10-25T14:09:12.-12345Z",
                                 "2018-10-25T14:09:12.1_2345Z", "2018-10-25T14:09:12. 12345Z"])
def test_kube_form_lookalikes_are_rejected_even_when_the_second_is_cached(bad: str) -> None:
    parse_rfc3339_ns("2018-10-25T14:09:12.000001Z")  # the second is now cached
    with pytest.raises(AuditDecodeError, match="timestamp"):
        parse_rfc3339_ns(bad)


def test_non_text_timestamps_are_rejected() -> None:
    for bad in (None, 5, b"2018-10-25T14:09:12.123456Z", ["2018-10-25T14:09:12.123456Z"]):
        with pytest.raises(AuditDecodeError):
            parse_rfc3339_ns(bad)  # type: ignore[arg-type]


def test_cache_and_cluster_name_are_made_on_first_use() -> None:
    from engine.fields import lookup as field_lookup

    (event,) = decode_stream([orjson.dumps(EVENT)])
    assert event.cluster_name is None
    cache = event.cache
    assert cache == {} and event.cache is cache  # one dict per event, kept once made
    event.cache = {"k": 1}
    assert event.cache == {"k": 1}
    other = AuditEvent(EVENT, cluster_name="prod")
    spec = field_lookup("k8s_audit", "ka.cluster.name")
    assert spec is not None
    assert (spec.extract(other, None), spec.extract(event, None)) == ("prod", None)
    event.cluster_name = "dev"
    assert spec.extract(event, None) == "dev" and other.cache is not event.cache
