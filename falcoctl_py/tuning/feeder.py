"""Feed audit events to an engine's webhook at a paced rate, as an API server's audit backend would.

Owns: batching JSON lines into ``EventList`` posts, pacing them to a target rate (optionally varied block by
block, so a measurement can tell the cost of audit events from the rest), and honouring 503/429 with a
retry (the engine refuses rather than loses). It counts what was sent and accepted; it never drops silently: an
event is either accepted, or counted as ``rejected`` after the retries run out.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class FeedStats:
    sent_events: int = 0
    accepted_events: int = 0
    rejected_events: int = 0
    retries: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


def batches(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        batch.append(line)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def event_list(batch: list[bytes]) -> bytes:
    return b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[' + b",".join(batch) + b"]}"


class Feeder(threading.Thread):
    """Posts ``lines`` (audit events as JSON lines, cycled) to ``url`` at ``rate`` events/s until stopped."""

    def __init__(self, url: str, lines: list[bytes], *, rate: float, batch_size: int = 200,
                 token: str | None = None, retries: int = 5, pattern: tuple[float, ...] = (1.0,),
                 block_seconds: float = 2.0) -> None:
        super().__init__(name="audit-feeder", daemon=True)
        self.url = urlsplit(url)
        self.lines = lines
        self.rate = rate
        self.batch_size = batch_size
        self.token = token
        self.retries = retries
        self.pattern = pattern
        self.block_seconds = block_seconds
        self.stats = FeedStats()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def _post(self, conn: http.client.HTTPConnection, body: bytes) -> int:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        t0 = time.perf_counter()
        conn.request("POST", self.url.path or "/k8s-audit", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        self.stats.latencies.append(time.perf_counter() - t0)
        self.stats.requests += 1
        return resp.status

    def rate_at(self, elapsed: float) -> float:
        """The target rate ``elapsed`` seconds in: ``rate`` times the pattern's multiplier for that block."""
        return self.rate * self.pattern[int(elapsed / self.block_seconds) % len(self.pattern)]

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname or "127.0.0.1", self.url.port or 9765, timeout=10)
        start = time.monotonic()
        credit = 0.0  # events the pacing allows so far
        last = start
        sent = 0
        try:
            while not self._stop_event.is_set():
                for batch in batches(self.lines, self.batch_size):
                    while not self._stop_event.is_set():
                        now = time.monotonic()
                        credit += self.rate_at(now - start) * (now - last)
                        last = now
                        if credit >= sent + len(batch):
                            break
                        self._stop_event.wait(0.01)
                    if self._stop_event.is_set():
                        return
                    self._send(conn, batch)
                    sent += len(batch)
        finally:
            conn.close()

    def _send(self, conn: http.client.HTTPConnection, batch: list[bytes]) -> None:
        body = event_list(batch)
        self.stats.sent_events += len(batch)
        for attempt in range(self.retries + 1):
            try:
                status = self._post(conn, body)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
            if 200 <= status < 300:
                self.stats.accepted_events += len(batch)
                return
            if status not in (0, 429, 503):
                break
            self.stats.retries += 1
            time.sleep(min(0.05 * 2**attempt, 1.0))
        self.stats.rejected_events += len(batch)
