"""Webhook source over real loopback HTTP: every whole-request error, per-event drops, full intake, TLS, token."""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from http_support import post as http_post
from http_support import self_signed

from engine.sources.k8s_audit.intake import Intake
from engine.sources.k8s_audit.webhook import WebhookSource, split_listen
from engine.testing.audit_synth import synth_lines

EVENTS = [orjson.loads(x) for x in synth_lines(20, seed=3)]


def post(port: int, body: bytes | None, **kwargs: Any) -> tuple[int, Any, Any]:
    """``http_support.post`` with the JSON reply decoded."""
    status, data, headers = http_post(port, body, **kwargs)
    return status, orjson.loads(data) if data else None, headers


@pytest.fixture
def hook() -> Iterator[WebhookSource]:
    src = WebhookSource(listen="127.0.0.1:0", queue_size=1000, max_event_bytes=4096, max_body_bytes=64 << 10)
    src.open()
    yield src
    src.stop()


def drain(src: WebhookSource) -> list[Any]:
    src.stop()
    return list(src)


def test_single_event_eventlist_and_array_are_accepted(hook: WebhookSource) -> None:
    assert post(hook.port, orjson.dumps(EVENTS[0]))[:2] == (200, {"accepted": 1, "dropped": 0})
    lst = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": EVENTS[1:5]}
    assert post(hook.port, orjson.dumps(lst))[:2] == (200, {"accepted": 4, "dropped": 0})
    assert post(
        hook.port, orjson.dumps(EVENTS[5:8]), headers={"Content-Type": "application/json; charset=utf-8"}
    )[:2] == (200, {"accepted": 3, "dropped": 0})
    got = drain(hook)
    assert [e.obj["auditID"] for e in got] == [e["auditID"] for e in EVENTS[:8]]
    assert all(e.source == "k8s_audit" and e.ts > 0 for e in got)
    assert hook.stats().events == 8 and hook.stats().detail["accepted"] == 8


@pytest.mark.parametrize(
    ("kwargs", "status", "reason", "code"),
    [
        ({"method": "GET"}, 405, "method GET", "method_not_allowed"),
        ({"method": "PUT"}, 405, "use POST", "method_not_allowed"),
        ({"path": "/other"}, 404, "no such path '/other'", "not_found"),
        (
            {"headers": {"Content-Type": "text/plain"}},
            415,
            "'text/plain' is not application/json",
            "unsupported_content_type",
        ),
        ({"body": b"{not json"}, 400, "malformed JSON", "malformed_json"),
        ({"body": b'{"kind": "Pod"}'}, 400, "not an audit payload", "not_audit_payload"),
        ({"body": b'"just a string"'}, 400, "not an audit payload", "not_audit_payload"),
        ({"body": b'{"kind": "EventList", "items": 3}'}, 400, "EventList without items", "not_audit_payload"),
        ({"body": b"[" + b" " * (70 << 10) + b"]"}, 413, "larger than 65536 bytes", "body_too_large"),
    ],
)
def test_whole_request_errors(
    hook: WebhookSource, kwargs: dict[str, Any], status: int, reason: str, code: str
) -> None:
    body = kwargs.pop("body", orjson.dumps(EVENTS[0]))
    got_status, doc, _ = post(hook.port, body if kwargs.get("method", "POST") != "GET" else None, **kwargs)
    assert got_status == status
    if kwargs.get("method") != "HEAD":
        assert reason in doc["error"]
    assert hook.stats().detail["accepted"] == 0
    assert hook.stats().http.requests_by_status == {status: 1}
    assert hook.stats().http.rejected_by_reason == {(code, status): 1}


def test_chunked_body_over_the_limit_is_refused(hook: WebhookSource) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=5)
    chunks = iter([b"[" + b" " * 40_000, b" " * 40_000, b"]"])
    try:
        conn.request(
            "POST", "/k8s-audit", body=chunks, headers={"Content-Type": "application/json"}, encode_chunked=True
        )
        assert conn.getresponse().status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered 413 and closed while the client was still sending: a race, not a failure
    conn.close()
    assert hook.stats().http.rejected_by_reason == {("body_too_large", 413): 1}  # counted before the reply
    conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=5)
    conn.request(
        "POST",
        "/k8s-audit",
        body=iter([orjson.dumps(EVENTS[:2])]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    assert conn.getresponse().status == 200
    conn.close()


def test_missing_or_negative_content_length(hook: WebhookSource) -> None:
    for header, status in ((b"", 411), (b"Content-Length: -5\r\n", 400)):
        with socket.create_connection(("127.0.0.1", hook.port), timeout=5) as sock:
            sock.sendall(
                b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + header
                + b"\r\n"
            )
            reply = sock.recv(4096)
        assert reply.startswith(f"HTTP/1.1 {status}".encode()), reply
    assert hook.stats().http.rejected_by_reason == {("length_required", 411): 1, ("invalid_content_length", 400): 1}


def test_bad_events_in_a_good_batch_are_dropped_and_counted(hook: WebhookSource) -> None:
    big = dict(EVENTS[1], annotations={"x": "y" * 5000})
    no_stamp = {k: v for k, v in EVENTS[2].items() if k != "stageTimestamp"}
    batch = [EVENTS[0], big, no_stamp, {"kind": "Pod"}, 7, EVENTS[3]]
    status, doc, _ = post(hook.port, orjson.dumps(batch))
    assert (status, doc) == (200, {"accepted": 2, "dropped": 4})
    assert hook.stats().drops == {
        "event_too_large": 1,
        "missing_stage_timestamp": 1,
        "not_event": 2,
    }
    assert [e.obj["auditID"] for e in drain(hook)] == [EVENTS[0]["auditID"], EVENTS[3]["auditID"]]


def test_full_intake_answers_503_with_retry_after_and_loses_nothing() -> None:
    src = WebhookSource(listen="127.0.0.1:0", queue_size=5)
    src.open()
    try:
        assert post(src.port, orjson.dumps(EVENTS[:4]))[0] == 200
        status, doc, headers = post(src.port, orjson.dumps(EVENTS[4:6]))
        assert status == 503 and headers["Retry-After"] == "1" and "intake full" in doc["error"]
        assert src.stats().http.rejected_by_reason == {("intake_full", 503): 1}
        got: list[Any] = []
        consumer = threading.Thread(target=src.run, args=(got.append,))
        consumer.start()
        for _ in range(50):  # once the engine thread drains, the retried request gets in
            if post(src.port, orjson.dumps(EVENTS[4:6]))[0] == 200:
                break
        src.stop()
        consumer.join(5)
        assert len(got) == 6 and src.stats().detail["accepted"] == src.stats().events == 6
    finally:
        src.stop()


def test_bearer_token(tmp_path: Path) -> None:
    src = WebhookSource(listen="127.0.0.1:0", token="t0ken")
    src.open()
    try:
        body = orjson.dumps(EVENTS[0])
        assert post(src.port, body)[0] == 401
        assert post(src.port, body, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert post(src.port, body, headers={"Authorization": "Bearer t0ken"})[0] == 200
        assert src.stats().http.rejected_by_reason == {("unauthorized", 401): 2}
    finally:
        src.stop()


@pytest.mark.timeout(30)
def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    src = WebhookSource(listen="127.0.0.1:0", tls_cert_file=str(cert), tls_key_file=str(key))
    src.open()
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        stalled = socket.create_connection(("127.0.0.1", src.port))  # connects, never sends a ClientHello
        start = time.monotonic()
        assert post(src.port, orjson.dumps(EVENTS[0]), tls=ctx)[:2] == (200, {"accepted": 1, "dropped": 0})
        assert time.monotonic() - start < 2.0  # the stalled handshake did not hold up the accept loop
        stalled.close()
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            post(src.port, orjson.dumps(EVENTS[0]))  # plain HTTP against the TLS port
    finally:
        src.stop()


def test_intake_bounds_and_listen_parsing() -> None:
    intake = Intake(3)
    assert intake.offer([1, 2]) and not intake.offer([3, 4]) and intake.offer([3])
    assert intake.take(0.01) == [1, 2] and intake.depth == 1
    intake.close()
    assert not intake.offer([9]) and intake.take(0.01) == [3] and intake.take(0.01) is None
    assert split_listen("0.0.0.0:9765", what="x") == ("0.0.0.0", 9765)
    assert split_listen("[::1]:80", what="x") == ("::1", 80)
    with pytest.raises(ValueError, match="sources.k8s_audit.webhook.listen: expected HOST:PORT, got '9765x'"):
        WebhookSource(listen="9765x")


def test_token_file_is_reread_when_the_secret_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("engine.sources.k8s_audit.webhook.TOKEN_RECHECK", 0.0)
    token = tmp_path / "token"
    token.write_text("first\n")
    src = WebhookSource(listen="127.0.0.1:0", token_file=str(token))
    src.open()
    try:
        body = orjson.dumps(EVENTS[0])
        assert post(src.port, body, headers={"Authorization": "Bearer first"})[0] == 200
        token.write_text("second-token\n")
        assert post(src.port, body, headers={"Authorization": "Bearer first"})[0] == 401
        assert post(src.port, body, headers={"Authorization": "Bearer second-token"})[0] == 200
        token.unlink()  # unreadable later: the last good token stays
        assert post(src.port, body, headers={"Authorization": "Bearer second-token"})[0] == 200
    finally:
        src.stop()
    with pytest.raises(ValueError, match=r"webhook.token_file: cannot read .*token"):
        WebhookSource(listen="127.0.0.1:0", token_file=str(token))


def _batches_of_every_shape() -> list[bytes]:
    """EventLists and arrays of plain events, and of items the header pass does not take."""
    big = dict(EVENTS[1], annotations={"x": "y" * 5000})
    no_stamp = {k: v for k, v in EVENTS[2].items() if k != "stageTimestamp"}
    odd = [{**EVENTS[4], "verb": 5}, {**EVENTS[5], "objectRef": None}, {**EVENTS[6], "stageTimestamp": "soon"},
           {**EVENTS[7], "user": {"username": "zoë"}}, {**EVENTS[8], "stageTimestamp": "2018-10-25T16:09:12+02:00"}]
    items = [EVENTS[0], big, no_stamp, {"kind": "Pod"}, 7, *odd, EVENTS[3]]
    return [orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}),
            orjson.dumps(items), orjson.dumps(EVENTS), orjson.dumps({"kind": "EventList", "items": EVENTS[:3]}),
            orjson.dumps(EVENTS[0]), orjson.dumps({"kind": "EventList", "items": []}),
            orjson.dumps({"kind": "EventList", "items": [EVENTS[0], "é"]}), b'{"kind":"EventList","items":[1,]}']


@pytest.mark.parametrize("index", range(8))
def test_batches_read_by_the_header_pass_give_what_whole_decoding_gives(
        index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.sources.k8s_audit import webhook

    body = _batches_of_every_shape()[index]
    src = WebhookSource(listen="127.0.0.1:0", max_event_bytes=4096)
    try:
        def outcome() -> Any:
            try:
                events, dropped = src.decode(body)
            except Exception as exc:  # noqa: BLE001 - a rejected body is an outcome too
                return type(exc).__name__, str(exc)
            return [(e.obj, e.ts) for e in events], dict(dropped)

        split = outcome()
        monkeypatch.setattr(webhook, "split_batch", lambda data: None)  # every body decoded whole
        assert split == outcome()
    finally:
        src.server.server_close()


def test_a_batch_of_plain_events_is_not_decoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.sources.k8s_audit import webhook

    def refuse(data: Any) -> Any:
        raise AssertionError("decoded whole")

    monkeypatch.setattr(webhook.orjson, "loads", refuse)
    src = WebhookSource(listen="127.0.0.1:0")
    try:
        events, dropped = src.decode(orjson.dumps({"kind": "EventList", "items": EVENTS}))
    finally:
        src.server.server_close()
    assert len(events) == len(EVENTS) and not dropped
    monkeypatch.undo()
    assert [e.obj for e in events] == EVENTS  # each decoded when first read


def test_a_number_beyond_a_double_fails_only_when_its_event_is_read() -> None:
    """kube-apiserver never writes one (Go's encoder has no infinity); the header pass skips the member unread."""
    body = orjson.dumps({"kind": "EventList", "items": [EVENTS[9], {**EVENTS[10], "n": 0}]}).replace(
        b'"n":0', b'"n":1e400')
    src = WebhookSource(listen="127.0.0.1:0")
    try:
        events, dropped = src.decode(body)
    finally:
        src.server.server_close()
    assert len(events) == 2 and not dropped and events[0].obj == EVENTS[9]
    with pytest.raises(orjson.JSONDecodeError):
        events[1].obj  # noqa: B018 - the read is what fails


def test_a_configured_cluster_name_marks_every_delivered_event() -> None:
    src = WebhookSource(listen="127.0.0.1:0", cluster_name="prod-eu-1")
    src.open()
    try:
        assert post(src.port, orjson.dumps({"kind": "EventList", "items": EVENTS[:3]}))[0] == 200
        assert post(src.port, orjson.dumps(EVENTS[3]))[0] == 200  # decoded whole: marked too
        got = drain(src)
    finally:
        src.stop()
    assert len(got) == 4 and {e.cluster_name for e in got} == {"prod-eu-1"}


def test_dropped_items_are_logged_once_per_reason_and_interval(
        hook: WebhookSource, caplog: pytest.LogCaptureFixture) -> None:
    no_stamp = {k: v for k, v in EVENTS[2].items() if k != "stageTimestamp"}
    with caplog.at_level(logging.WARNING, logger="engine.sources.k8s_audit.webhook"):
        for _ in range(5):
            status, doc, _ = post(hook.port, orjson.dumps([EVENTS[0], no_stamp, no_stamp, {"kind": "Pod"}]))
            assert (status, doc) == (200, {"accepted": 1, "dropped": 3})
    lines = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(lines) == 2  # one per reason within the interval, however many requests
    assert any("127.0.0.1: dropped (2 items): Event without a stageTimestamp" in line for line in lines)
    assert hook.stats().drops == {"missing_stage_timestamp": 10, "not_event": 5}
    assert hook.stats().payloads == 5 and hook.stats().bytes > 0
