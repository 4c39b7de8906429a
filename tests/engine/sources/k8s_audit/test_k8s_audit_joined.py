"""``read_events``: many texts' headers read in one joined pass, with exactly what ``read_event`` gives each text.

The joined pass parses ``[N,t0,N,t1,...]``; these tests feed it texts that are not one JSON value on their own but
would make one when joined (a string left open, an object split over two texts, two events in one text), and
check that every text is still judged alone: the same events, the same rejections, in the same positions.
"""

from __future__ import annotations

import orjson
import pytest

from engine.events.k8s_audit import AuditEvent
from engine.sources.k8s_audit import decode
from engine.sources.k8s_audit.decode import (
    AuditDecodeError,
    decode_payload,
    decode_stream,
    read_event,
    read_events,
)
from engine.testing.audit_synth import synth_lines

EVENT = {"kind": "Event", "auditID": "x", "verb": "get", "objectRef": {"resource": "pods"},
         "stageTimestamp": "2018-10-25T14:09:12.123456Z"}
GOOD = orjson.dumps(EVENT)
OPEN = GOOD[:-1] + b',"note":"'  # a string left open: completed by whatever follows it
CLOSE = b'","x":1}'  # closes OPEN's string and object
TWO = GOOD + b"," + orjson.dumps({**EVENT, "auditID": "y"})  # two values in one text


def _key(event: AuditEvent | None) -> object:
    return None if event is None else (type(event), event.obj, event.ts, event.raw, event.verb, event.resource)


def _alone(texts: list[bytes]) -> list[object]:
    return [_key(read_event(t) if type(t) is bytes and t.isascii() else None) for t in texts]


@pytest.mark.parametrize("texts", [
    [GOOD, OPEN, CLOSE, TWO],  # two texts merged and one split: as many values as texts
    [OPEN, CLOSE, TWO, TWO, GOOD],
    [OPEN, b"5," + CLOSE, GOOD],  # an integer where the joined pass puts its marks
    [GOOD, b"5", GOOD, b"", b" ", GOOD + b"]", b"[" + GOOD],
    [GOOD.replace(b'"x"', b'"z\xc3\xab"'), GOOD, OPEN],  # not ASCII: never read by the header pass
])
def test_texts_that_only_parse_when_joined_are_judged_alone(texts: list[bytes]) -> None:
    assert [_key(e) for e in read_events(texts)] == _alone(texts)
    assert [_key(e) for e in read_events(texts)].count(None) >= 2


def test_one_odd_text_in_a_batch_leaves_the_rest_to_the_joined_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = synth_lines(200, seed=11)
    odd = orjson.dumps({**EVENT, "verb": "frobnicate"})  # not a header verb: decoded whole by the caller
    texts = [*lines[:50], odd, *lines[50:120], odd, *lines[120:]]
    alone: list[bytes] = []
    real = decode.read_event
    monkeypatch.setattr(decode, "read_event", lambda t: alone.append(t) or real(t))
    got = read_events(texts)
    big = [t for t in texts if len(t) > decode._JOIN_MAX]
    assert alone == [*big, odd, odd]  # only the big texts and the two odd ones were read one by one
    assert [_key(e) for e in got] == _alone(texts) and got[50] is None and got[121] is None


def test_many_odd_texts_fall_back_to_one_by_one_with_the_same_result() -> None:
    odd = orjson.dumps({**EVENT, "verb": "frobnicate"})
    texts = [t for line in synth_lines(40, seed=12) for t in (line, odd)]
    assert [_key(e) for e in read_events(texts)] == _alone(texts)


def test_big_texts_are_read_alone_with_the_same_result() -> None:
    big = orjson.dumps({**EVENT, "requestObject": {"data": "x" * decode._JOIN_MAX}})
    texts = [GOOD, big, OPEN, big.replace(b'"x"', b'"y"'), CLOSE, GOOD]
    assert [_key(e) for e in read_events(texts)] == _alone(texts)
    assert read_events(texts)[1] is not None


def test_the_stream_rejects_what_each_payload_alone_rejects() -> None:
    payloads = [*synth_lines(30, seed=13), OPEN, CLOSE, TWO, GOOD, b"5", *synth_lines(100, seed=14), OPEN, CLOSE]
    errors: list[tuple[int, str]] = []
    got = list(decode_stream(payloads, on_error=lambda i, exc: errors.append((i, exc.message))))
    want: list[AuditEvent] = []
    want_errors: list[tuple[int, str]] = []
    for i, payload in enumerate(payloads):
        try:
            want += decode_payload(payload)
        except AuditDecodeError as exc:
            want_errors.append((i, exc.message))
    assert [(e.obj, e.ts) for e in got] == [(e.obj, e.ts) for e in want]
    assert errors == want_errors and [i for i, _ in errors] == [30, 31, 32, 34, 135, 136]


def test_big_non_ascii_and_str_texts_in_one_batch_are_judged_as_each_alone() -> None:
    big = orjson.dumps({**EVENT, "requestObject": {"data": "x" * decode._JOIN_MAX}})
    accented = GOOD.replace(b'"x"', b'"z\xc3\xab"')
    texts = [GOOD, big, accented, GOOD.decode(), big.replace(b'"x"', b'"\xc3\xab"'), GOOD, OPEN, CLOSE]
    got = read_events(texts)  # type: ignore[arg-type]  # a str among the bytes, as a caller may pass
    assert [_key(e) for e in got] == _alone(texts)
    assert [e is not None for e in got] == [True, True, False, False, False, True, False, False]


@pytest.mark.parametrize("taken", [0, 1, 63, 64, 65, 100])
def test_a_stream_closed_inside_a_chunk_reports_the_events_taken(taken: int) -> None:
    lines = synth_lines(100, seed=15)
    done: list[tuple[int, int]] = []
    stream = decode_stream(lines, on_done=lambda n, m: done.append((n, m)))
    got = [next(stream) for _ in range(taken)]
    stream.close()
    assert [e.raw for e in got] == lines[:taken]
    assert done == [(taken, taken)] if taken else done in ([], [(0, 0)])
