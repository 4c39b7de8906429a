"""``decode_stream``: many payloads decoded as they are read, with exactly ``decode_payload``'s events and errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.events.k8s_audit import AuditEvent, DecodedEvent
from engine.sources.k8s_audit.decode import (
    AuditDecodeError,
    decode_payload,
    decode_stream,
    new_event,
    parse_rfc3339_ns,
)
from engine.testing.audit_synth import synth_lines

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
    # Events whose header the header pass does not take as it is: decoded whole, with the same result.
    for change in ({"verb": 5}, {"verb": "impersonate"}, {"verb": None}, {"stage": "Later"}, {"stage": ["x"]},
                   {"objectRef": None}, {"objectRef": "pods"}, {"objectRef": {"resource": 1}}, {"user": None},
                   {"user": {"username": ["a"]}}, {"user": {"username": "zoë"}}, {"auditID": None}):
        out.append(orjson.dumps({**EVENT, **change}))
    line = orjson.dumps({**EVENT, "requestObject": {"note": "NOTE"}})
    out.append(line.replace(b'"NOTE"', b'"\xff"'))  # not UTF-8, in a member the header pass skips
    out.append(line.replace(b'"NOTE"', b'"\\ud800"'))  # an escaped lone surrogate there
    out.append(line.replace(b'"NOTE"', b"[1,]"))  # malformed JSON there
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
    b = DecodedEvent(EVENT, ts=5, raw=b"raw")
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
    other = DecodedEvent(EVENT, ts=5, cluster_name="prod")
    spec = field_lookup("k8s_audit", "ka.cluster.name")
    assert spec is not None
    assert (spec.extract(other, None), spec.extract(event, None)) == ("prod", None)
    event.cluster_name = "dev"
    assert spec.extract(event, None) == "dev" and other.cache is not event.cache


class _CountingOrjson:
    """Stands in for the module's ``orjson``, counting whole-event decodes."""

    JSONDecodeError = orjson.JSONDecodeError
    dumps = staticmethod(orjson.dumps)

    def __init__(self) -> None:
        self.decoded: list[Any] = []

    def loads(self, data: Any) -> Any:
        self.decoded.append(data)
        return orjson.loads(data)


def test_header_read_events_decode_the_whole_event_once_and_only_when_read(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.events import k8s_audit as module

    counting = _CountingOrjson()
    monkeypatch.setattr(module, "orjson", counting)
    lines = synth_lines(400, seed=5)
    got = list(decode_stream(lines))
    assert len(got) == len(lines) and counting.decoded == []  # the header pass builds no whole event
    for event, line in zip(got[:3], lines, strict=False):
        obj = orjson.loads(line)
        assert event.ts == parse_rfc3339_ns(obj["stageTimestamp"]) and event.raw == line
        assert event.obj == obj and event.obj is event.obj  # decoded once, then kept
        ref, user = obj.get("objectRef", {}), obj.get("user", {})
        assert (event.verb, event.stage, event.objectRef.resource, event.objectRef.subresource,
                event.user.username) == (obj.get("verb"), obj.get("stage"), ref.get("resource"),
                                         ref.get("subresource"), user.get("username"))
    assert counting.decoded == lines[:3]
    with pytest.raises(AttributeError):  # the typed members are the text's: its decoded object is not replaced
        got[3].obj = {"kind": "Event"}  # type: ignore[misc]
    assert counting.decoded == lines[:3]


def test_an_engine_parses_only_the_members_a_rule_or_an_alert_reads_beyond_the_header(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.events import k8s_audit as module
    from engine.rules import load_rules
    from engine.runtime import Engine

    rules = """
- rule: Host network pod
  desc: a pod created on the host network
  condition: ka.verb=create and ka.target.resource=pods and ka.req.pod.host_network=true
  output: host network pod %ka.target.namespace/%ka.resp.name by %ka.user.name (%ka.auth.decision)
  priority: WARNING
  source: k8s_audit
- rule: Lease renewed
  desc: every lease update (decided by the index key alone)
  condition: ka.verb=update and ka.target.resource=leases
  output: lease %ka.target.name code=%ka.response.code by %ka.useragent
  priority: DEBUG
  source: k8s_audit
"""
    result = load_rules([("rules.yaml", rules)])
    assert result.successful and result.ruleset is not None, [e.to_dict() for e in result.errors]
    lines = synth_lines(2000, seed=5)
    eager = [a.to_dict() for line in lines for e in decode_payload(line)
             for a in Engine(result.ruleset).process(e)]
    counting = _CountingOrjson()
    monkeypatch.setattr(module, "orjson", counting)
    alerts = Engine(result.ruleset).process_batch(decode_stream(lines))
    assert [a.to_dict() for a in alerts] == eager
    pods = [orjson.loads(line) for line in lines if b'"verb":"create"' in line and b'"resource":"pods"' in line]
    leases = [a for a in alerts if a.rule == "Lease renewed"]
    hostnet = [a for a in alerts if a.rule == "Host network pod"]
    assert len(pods) > 20 and len(leases) > 100 and hostnet
    # No event is decoded whole: pod creations read their request object through the typed pod view for the
    # condition (no orjson parse), and the alerted ones their response object's name the same way and parse
    # their annotations for the output; lease alerts read the typed header alone.
    assert not set(counting.decoded) & set(lines)
    assert sorted(counting.decoded) == sorted([orjson.dumps(p[m]) for p in pods
                                                      if p.get("requestObject", {}).get("spec", {}).get("hostNetwork")
                                                      for m in ("annotations",) if m in p])


def test_a_number_beyond_a_double_in_a_skipped_member_fails_only_when_the_event_is_read() -> None:
    line = orjson.dumps({**EVENT, "requestObject": {"n": 0}}).replace(b'"n":0', b'"n":1e400')
    with pytest.raises(AuditDecodeError):
        decode_payload(line)  # decoded whole at once: rejected
    (event,) = decode_stream([line])  # the header pass skips the member: accepted
    assert event.verb == "get"
    with pytest.raises(orjson.JSONDecodeError):
        event.obj  # noqa: B018 - the read is what fails


def test_an_engine_counts_such_an_event_as_an_evaluation_error_and_goes_on() -> None:
    from engine.rules import load_rules
    from engine.runtime import Engine

    rules = """
- rule: Any get
  desc: reads the request body, so the event is decoded whole
  condition: ka.verb=get and jevt.value[/requestObject/n] exists
  output: n=%jevt.value[/requestObject/n]
  priority: WARNING
  source: k8s_audit
"""
    result = load_rules([("rules.yaml", rules)])
    assert result.ruleset is not None
    good = orjson.dumps({**EVENT, "requestObject": {"n": 1}})
    bad = good.replace(b'"n":1', b'"n":1e400')
    engine = Engine(result.ruleset)
    alerts = engine.process_batch(decode_stream([good, bad, good]))
    assert len(alerts) == 2
    assert engine.stats()["errors_total"] == {"k8s_audit": 1}
    assert engine.stats()["events_total"] == {"k8s_audit": 3}


def test_the_header_pass_reads_every_time_as_the_general_parser_does() -> None:
    import random

    from engine.events.rfc3339 import parse_slow as _parse_slow
    from engine.sources.k8s_audit.decode import read_event

    rng = random.Random(7)
    base = 1_767_225_600  # events of a few seconds, in and out of order, past the millisecond cache's bound
    for _ in range(12_000):
        secs = base + rng.randrange(6)
        digits = rng.choice([6, 6, 6, 3, 9, 0])
        frac = f".{rng.randrange(10**digits):0{digits}d}" if digits else ""
        stamp = datetime_text(secs) + frac + rng.choice(["Z", "Z", "Z", "z", "+00:00"])
        event = read_event(orjson.dumps({**EVENT, "stageTimestamp": stamp}))
        assert event is not None and event.ts == _parse_slow(stamp), stamp
    for bad in ("2026-01-01T00:00:00.12aZ", "2026-01-01T00:00:00.123456", "2026-01-01T00:00:61.000000Z"):
        assert read_event(orjson.dumps({**EVENT, "stageTimestamp": bad})) is None


def datetime_text(secs: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.mark.parametrize("name", [".raw", ".ts", ".obj", ".cache", ".members", ".cluster_name"])
def test_a_member_named_as_the_events_own_state_cannot_set_it(name: str) -> None:
    """The header Struct keeps its own state (text, time, caches) under names no JSON member is expected to use;
    a member that does use one is either ``null`` (the state's own start) or sends the event to be decoded whole."""
    from engine.sources.k8s_audit.decode import read_event

    base = {"kind": "Event", "auditID": "a", "verb": "get", "stageTimestamp": "2018-10-25T14:09:12.123456Z"}
    text = orjson.dumps({**base, name: {"x": 1}})
    assert read_event(text) is None  # decoded whole, where the member is just a member
    (event,) = decode_stream([text])
    assert event.obj[name] == {"x": 1} and event.ts == 1540476552_123456000 and event.raw == text
    nulled = orjson.dumps({**base, name: None})
    header = read_event(nulled)
    assert header is not None and header.raw == nulled and header.cache == {} and header.cluster_name is None
    assert header.ts == 1540476552_123456000 and header.obj[name] is None
