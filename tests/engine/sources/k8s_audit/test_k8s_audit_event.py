"""Audit payload decoding: Event / EventList / array, validation, RFC 3339 times to nanoseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from engine.events.k8s_audit import AuditEvent
from engine.sources.k8s_audit.decode import AuditDecodeError, decode_payload, parse_rfc3339_ns

EVENT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get",
         "objectRef": {"resource": "pods"}, "stageTimestamp": "2018-10-25T14:09:12.123456Z"}


@pytest.mark.parametrize("text, ns", [
    ("2018-10-25T14:09:12Z", 1540476552_000000000),
    ("2018-10-25T14:09:12.123456Z", 1540476552_123456000),
    ("2018-10-25T14:09:12.123456789Z", 1540476552_123456789),
    ("2018-10-25T16:09:12.5+02:00", 1540476552_500000000),
    ("2018-10-25T09:09:12-0500", 1540476552_000000000),
])
def test_rfc3339_to_ns(text: str, ns: int) -> None:
    assert parse_rfc3339_ns(text) == ns


@pytest.mark.parametrize("bad", ["2018-10-25", "yesterday", "2018-13-25T14:09:12Z", ""])
def test_bad_timestamps_are_rejected(bad: str) -> None:
    with pytest.raises(AuditDecodeError, match="timestamp"):
        parse_rfc3339_ns(bad)


def test_single_event_keeps_contract_attributes() -> None:
    raw = orjson.dumps(EVENT)
    (e,) = decode_payload(raw)
    assert isinstance(e, AuditEvent)
    assert (e.source, e.evt_type, e.ts, e.raw, e.cache) == ("k8s_audit", None, 1540476552_123456000, raw, {})
    assert (e.verb, e.resource) == ("get", "pods")


def test_event_list_and_array() -> None:
    second = {**EVENT, "auditID": "y", "verb": "list"}
    listed = decode_payload(orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                                          "items": [EVENT, second]}))
    assert [e.obj["auditID"] for e in listed] == ["x", "y"]
    assert [e.verb for e in decode_payload(orjson.dumps([EVENT, second]))] == ["get", "list"]
    assert decode_payload(b'{"kind":"EventList","items":[]}') == []


@pytest.mark.parametrize("payload, why", [
    (b"not json", "invalid JSON"),
    (b'{"kind":"Pod","metadata":{}}', "not recognized"),
    (b'"Event"', "not recognized"),
    (orjson.dumps({**EVENT, "stageTimestamp": None}), "stageTimestamp"),
    (orjson.dumps({k: v for k, v in EVENT.items() if k != "auditID"}), "not recognized"),
    (orjson.dumps({"kind": "EventList", "items": [EVENT, {"kind": "Pod"}]}), "item 1"),
])
def test_non_audit_input_is_named(payload: bytes, why: str) -> None:
    with pytest.raises(AuditDecodeError, match=why) as info:
        decode_payload(payload)
    assert "k8s audit event" in str(info.value) or "timestamp" in str(info.value)


def test_timestamp_fast_path_equals_the_general_parser() -> None:
    import random

    from engine.events.rfc3339 import parse_slow as _parse_slow
    from engine.sources.k8s_audit.decode import parse_rfc3339_ns

    rng = random.Random(5)
    for _ in range(3000):
        secs = rng.randrange(0, 4_000_000_000)
        stamp = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        digits = rng.choice([0, 3, 6, 9])
        frac = f".{rng.randrange(10**digits):0{digits}d}" if digits else ""
        text = stamp + frac + "Z"
        assert parse_rfc3339_ns(text) == _parse_slow(text), text
