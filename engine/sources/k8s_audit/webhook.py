"""The Kubernetes audit webhook source: an HTTP(S) endpoint the kube-apiserver's webhook backend posts to.

Owns: the HTTP server (stdlib ``ThreadingHTTPServer``, one short-lived thread per connection), request checks
(method 405, path 404, content type 415, body size 413 before reading — chunked too —, bearer token 401, JSON 400,
audit payload 400: a bad request is refused whole, nothing of it accepted, counted by a stable reason code),
per-event checks inside a batch (oversized, no ``stageTimestamp``, not kind ``Event``: dropped, counted by reason
and logged at a bounded rate, by ``ItemErrors``), the bounded intake between handler threads and the engine thread
(full -> 503 with ``Retry-After``, never accept-and-lose), delivery to the engine thread a request's events at a
time (``run_batches``), and a request-latency histogram kept as plain counters. The port is bound when the
source is built (a taken port is reported before anything starts); ``open`` starts serving.

Must not: evaluate rules (the ``deliver`` given to ``run_batches`` does), block a request on the engine, or
import prometheus_client (``engine.metrics`` reads ``stats()``).
"""

from __future__ import annotations

import bisect
import hmac
import logging
import os
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path

import orjson

from engine.events.k8s_audit import SOURCE, AuditEvent
from engine.fields.base import FieldClass
from engine.sources.base import Deliver, HttpStats, SourceStats
from engine.sources.k8s_audit.decode import (
    AuditDecodeError,
    in_cluster,
    new_event,
    parse_rfc3339_ns,
    read_event,
    split_batch,
)
from engine.sources.k8s_audit.errors import ItemErrors
from engine.sources.k8s_audit.intake import Intake

log = logging.getLogger(__name__)

CONNECTION_TIMEOUT = 30.0  # seconds a connection may stay idle or stall mid-request
TOKEN_RECHECK = 5.0  # seconds between checks of the token file (Secrets rotate in place)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BAD_PAYLOAD = frozenset({"malformed_json", "not_audit_payload", "malformed_chunked_body"})  # refused for content
DROP_MESSAGES = {  # reason code -> what was wrong with the dropped event, for the log
    "not_event": "item is not an audit Event",
    "missing_stage_timestamp": "Event without a stageTimestamp string",
    "event_too_large": "Event larger than sources.k8s_audit.webhook.max_event_bytes",
    "invalid_event": "Event with an invalid stageTimestamp",
}


def split_listen(listen: str, *, what: str) -> tuple[str, int]:
    """``"0.0.0.0:9765"`` / ``"[::1]:9765"`` / ``":9765"`` -> (host, port); ``ValueError`` naming ``what``."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{what}: expected HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class _Reject(Exception):
    """A refused request: HTTP ``status``, a human ``reason`` for the reply, a stable ``code`` for the metrics."""

    def __init__(self, status: int, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.code = code


class WebhookSource:
    """Receive audit events over HTTP; ``run_batches(deliver)`` (the engine thread) delivers them in arrival
    order, a request's accepted events at a time."""

    name = SOURCE

    def __init__(
        self,
        *,
        listen: str = "0.0.0.0:9765",
        path: str = "/k8s-audit",
        tls_cert_file: str | None = None,
        tls_key_file: str | None = None,
        token: str | None = None,
        token_file: str | None = None,
        max_body_bytes: int = 12 << 20,
        max_event_bytes: int = 256 << 10,
        queue_size: int = 20_000,
        retry_after: int = 1,
        cluster_name: str | None = None,
    ) -> None:
        self.path = path
        self.cluster_name = cluster_name  # ka.cluster.name of every event, when set
        self.max_body = max_body_bytes
        self.max_event = max_event_bytes
        self.retry_after = retry_after
        self._token = f"Bearer {token}".encode() if token else None
        self._token_file = token_file
        self._token_sig: tuple[int, int, int] | None = None
        self._token_checked = 0.0
        if token_file:
            self._refresh_token(force=True)
        self.intake: Intake[AuditEvent] = Intake(queue_size)
        self._lock = threading.Lock()
        self._stats = SourceStats(detail={"accepted": 0})  # events delivered; accepted into the intake
        self.errors = ItemErrors(self._stats, log, lock=self._lock)
        self.requests: Counter[int] = Counter()  # status -> count
        self.rejected: Counter[tuple[str, int]] = Counter()  # (reason code, status) -> requests refused
        self._latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        host, port = split_listen(listen, what="sources.k8s_audit.webhook.listen")
        self.server = _Server((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.tls = bool(tls_cert_file)
        if tls_cert_file:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert_file, tls_key_file)
            # The handshake runs in each connection's thread (Handler.setup), never in the accept loop, so a
            # client that connects and stalls cannot hold up everyone else.
            self.server.socket = ctx.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self.server.server_address[1]
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def field_classes(self) -> tuple[FieldClass, ...]:
        from engine.fields import field_classes

        return tuple(fc for fc in field_classes() if SOURCE in fc.sources)

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Start serving HTTP in a background thread (requests are accepted into the intake from now on)."""
        if self._thread is not None or self._closed:
            return
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="webhook-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests; events already accepted stay queued for ``run_batches`` to finish."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(2.0)
            self._thread = None
        self.close()
        self.intake.close()

    def close(self) -> None:
        """Release the listening socket (``stop`` does too); safe to call twice."""
        if not self._closed:
            self._closed = True
            self.server.server_close()

    def update_event_types(self, event_types: frozenset[str]) -> bool:
        return False  # nothing is filtered at the source

    def describe(self) -> str:
        return f"{self.name} webhook on port {self.port}{' (TLS)' if self.tls else ''}"

    def run(self, callback: Callable[[AuditEvent], object]) -> None:
        """Deliver accepted events to ``callback`` one by one until ``stop`` and the intake is drained."""
        for event in self:
            callback(event)

    def run_batches(self, deliver: Deliver) -> None:
        """Deliver a request's accepted events at a time (in arrival order), until ``stop`` and the intake is
        drained."""
        for batch in self._batches():
            deliver(batch)

    def __iter__(self) -> Iterator[AuditEvent]:
        for batch in self._batches():
            yield from batch

    def _batches(self) -> Iterator[list[AuditEvent]]:
        """Each request's accepted events until the intake is closed and drained; a batch is counted as
        delivered once the consumer is done with it (when it asks for the next one)."""
        intake = self.intake
        while True:
            batch = intake.take(0.5)
            if batch is None:
                if intake.closed:
                    return
                continue
            if self.cluster_name is not None:
                batch = list(in_cluster(batch, self.cluster_name))
            yield batch
            with self._lock:
                self._stats.events += len(batch)

    # -- request handling --------------------------------------------------------------------------------------

    def _observe(self, status: int, seconds: float, *, rejected: str | None = None) -> None:
        with self._lock:
            self.requests[status] += 1
            if rejected is not None:
                self.rejected[(rejected, status)] += 1
                if rejected in BAD_PAYLOAD:
                    self._stats.bad_payloads += 1
            self._latency[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds

    def _refresh_token(self, *, force: bool = False) -> None:
        """Re-read ``token_file`` when it changed (a rotated Secret); an unreadable file keeps the old token."""
        assert self._token_file is not None
        self._token_checked = time.monotonic()
        try:
            st = os.stat(self._token_file)
            sig = (st.st_ino, st.st_size, st.st_mtime_ns)
            if not force and sig == self._token_sig:
                return
            value = Path(self._token_file).read_text().strip()
        except OSError as exc:
            if force:
                raise ValueError(
                    f"sources.k8s_audit.webhook.token_file: cannot read {self._token_file}: "
                    f"{exc.strerror or exc}"
                ) from None
            log.warning(
                "webhook token file %s unreadable (%s); keeping the previous token", self._token_file, exc
            )
            return
        if not value:
            if force:
                raise ValueError(f"sources.k8s_audit.webhook.token_file: {self._token_file} is empty")
            log.warning("webhook token file %s is empty; keeping the previous token", self._token_file)
            return
        if self._token_sig is not None:
            log.info("webhook token reloaded from %s", self._token_file)
        self._token_sig = sig
        self._token = f"Bearer {value}".encode()

    def check_auth(self, header: str | None) -> None:
        if self._token_file and time.monotonic() - self._token_checked > TOKEN_RECHECK:
            self._refresh_token()
        if self._token is not None and (
            header is None or not hmac.compare_digest(header.encode(), self._token)
        ):
            raise _Reject(401, "missing or wrong bearer token", code="unauthorized")

    def decode(self, body: bytes) -> tuple[list[AuditEvent], Counter[str]]:
        """Whole-payload checks raise ``_Reject``; bad single events are returned as drop counts by reason.

        The common body, an ``EventList`` of plain events, is split into its items' JSON text and each item read
        by the header pass (the whole event is decoded later, only if a rule or an alert reads it). An item the
        header pass does not take, and any other body, is decoded whole and checked item by item.
        """
        texts = split_batch(body)
        if texts is not None:
            try:
                return self._decode_items(texts)
            except orjson.JSONDecodeError:  # an item orjson refuses (a number beyond a double): judged whole below
                pass
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _Reject(400, f"malformed JSON: {exc}", code="malformed_json") from None
        if type(value) is dict and value.get("kind") == "EventList":
            items = value.get("items")
            if not isinstance(items, list):
                raise _Reject(400, "not an audit payload: EventList without items", code="not_audit_payload")
        elif type(value) is list:
            items = value
        elif type(value) is dict and value.get("kind") == "Event":
            items = [value]
        else:
            raise _Reject(
                400,
                "not an audit payload: expected an Event, an EventList or an array of events",
                code="not_audit_payload",
            )
        check_size = len(body) > self.max_event
        events: list[AuditEvent] = []
        dropped: Counter[str] = Counter()
        for item in items:
            self._check_item(item, check_size, events, dropped)
        return events, dropped

    def _decode_items(self, texts: list[bytes]) -> tuple[list[AuditEvent], Counter[str]]:
        max_event = self.max_event
        events: list[AuditEvent] = []
        dropped: Counter[str] = Counter()
        for text in texts:  # an item's size is its text as sent (a body decoded whole measures compact JSON)
            event = read_event(text) if len(text) <= max_event else None
            if event is not None:
                events.append(event)
            else:  # too large, or not a plain event: decoded whole, dropped for the reason it gives
                self._check_item(orjson.loads(text), True, events, dropped)
        return events, dropped

    def _check_item(self, item: object, check_size: bool, events: list[AuditEvent], dropped: Counter[str]) -> None:
        if type(item) is not dict or item.get("kind") != "Event":
            dropped["not_event"] += 1
            return
        stamp = item.get("stageTimestamp")
        if type(stamp) is not str:
            dropped["missing_stage_timestamp"] += 1
            return
        if check_size and len(orjson.dumps(item)) > self.max_event:
            dropped["event_too_large"] += 1
            return
        try:
            events.append(new_event(item, parse_rfc3339_ns(stamp)))
        except (AuditDecodeError, KeyError, TypeError):
            dropped["invalid_event"] += 1

    def stats(self) -> SourceStats:
        with self._lock:
            snap = self._stats.snapshot()
            snap.intake_depth = self.intake.depth
            snap.intake_capacity = self.intake.capacity
            snap.http = HttpStats(
                requests_by_status=dict(self.requests),
                rejected_by_reason=dict(self.rejected),
                latency_buckets=tuple(zip(LATENCY_BUCKETS, _cumulative(self._latency), strict=False)),
                latency_count=sum(self._latency),
                latency_sum=self._latency_sum,
            )
            return snap

    def count_request(self, body: bytes, events: int, dropped: Counter[str], client: str) -> None:
        """A request taken: its bytes and accepted events counted, its dropped items counted and logged."""
        with self._lock:
            self._stats.payloads += 1
            self._stats.bytes += len(body)
            self._stats.detail["accepted"] += events
        for reason, n in sorted(dropped.items()):
            self.errors.drop(reason, f"webhook request from {client}",
                             DROP_MESSAGES.get(reason, reason.replace("_", " ")), count=n)


def _cumulative(counts: list[int]) -> list[int]:
    out, total = [], 0
    for c in counts:
        total += c
        out.append(total)
    return out


def _read_chunked(rfile: BufferedIOBase, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        line = rfile.readline(1024)
        try:
            n = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _Reject(400, "malformed chunked body", code="malformed_chunked_body") from None
        if n == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        size += n
        if size > limit:
            raise _Reject(413, f"body larger than {limit} bytes", code="body_too_large")
        parts.append(rfile.read(n))
        rfile.readline(8)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """Failed handshakes and dropped connections are the client's problem: a debug line, no traceback."""
        log.debug("webhook connection from %s failed: %s", client_address[0], sys.exc_info()[1])


def _handler_for(source: WebhookSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = CONNECTION_TIMEOUT  # idle or stalled connections are closed, their thread freed

        def setup(self) -> None:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(CONNECTION_TIMEOUT)
                self.request.do_handshake()
            super().setup()

        server_version = "falcopy-webhook"

        def _reply(self, status: int, doc: dict[str, object], *, extra: dict[str, str] | None = None) -> None:
            body = orjson.dumps(doc)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            if status >= 400:
                self.close_connection = True  # the body may be unread: do not reuse this connection
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _other(self) -> None:
            start = time.perf_counter()
            self.close_connection = True
            source._observe(405, time.perf_counter() - start, rejected="method_not_allowed")
            self._reply(
                405, {"error": f"method {self.command} not allowed, use POST"}, extra={"Allow": "POST"}
            )

        do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _other

        def do_POST(self) -> None:
            start = time.perf_counter()
            rejected: str | None = None
            try:
                status, doc, extra = self._post()
                if status == 503:
                    rejected = "intake_full"
            except _Reject as rej:
                status, doc, extra, rejected = rej.status, {"error": rej.reason}, None, rej.code
            source._observe(
                status, time.perf_counter() - start, rejected=rejected
            )  # counted before the client can see the reply
            self._reply(status, doc, extra=extra)

        def _post(self) -> tuple[int, dict[str, object], dict[str, str] | None]:
            if self.path.split("?", 1)[0] != source.path:
                raise _Reject(
                    404, f"no such path {self.path.split('?', 1)[0]!r}, post to {source.path}", code="not_found"
                )
            source.check_auth(self.headers.get("Authorization"))
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype != "application/json" and not ctype.endswith("+json"):
                raise _Reject(
                    415,
                    f"content type {ctype or '(none)'!r} is not application/json",
                    code="unsupported_content_type",
                )
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = _read_chunked(self.rfile, source.max_body)
            else:
                try:
                    length = int(self.headers.get("Content-Length") or "")
                except ValueError:
                    raise _Reject(411, "Content-Length required", code="length_required") from None
                if length < 0:
                    raise _Reject(400, f"invalid Content-Length {length}", code="invalid_content_length")
                if length > source.max_body:
                    raise _Reject(
                        413,
                        f"body of {length} bytes is larger than {source.max_body} bytes",
                        code="body_too_large",
                    )
                body = self.rfile.read(length)
            events, dropped = source.decode(body)
            if events and not source.intake.offer(events):
                return 503, {"error": "intake full, retry later"}, {"Retry-After": str(source.retry_after)}
            source.count_request(body, len(events), dropped, self.client_address[0])
            return 200, {"accepted": len(events), "dropped": sum(dropped.values())}, None

        def log_message(self, fmt: str, *args: object) -> None:
            log.debug("webhook %s: " + fmt, self.client_address[0], *args)

    return Handler
