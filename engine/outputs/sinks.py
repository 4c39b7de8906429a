"""Alert sinks: stdout (JSON or text lines), an appended file, and HTTP POST of Falco JSON (Falcosidekick-style).

Owns: delivering one alert at a time (``write``), buffering and ``flush``, reopening files after rotation
(``reopen`` on SIGHUP, and an inode check), bounded retry with backoff for HTTP, and reading sink secrets from
files (bearer token, CA bundle). ``build_sinks(outputs_config)`` turns the ``outputs`` config section into sinks.

Must not: queue or drop alerts (``engine.outputs.queue`` does, with one worker thread per sink), format alerts
(``Alert.to_json`` / ``to_text``), or retry forever: a down endpoint costs at most ``retries`` attempts per alert.
"""

from __future__ import annotations

import http.client
import os
import ssl
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config_types import OutputsConfig
    from engine.outputs.alert import Alert
    from engine.outputs.queue import Sink

_CHECK_ROTATION_EVERY = 1.0  # seconds between inode checks of the file sink's path


def _line(alert: Alert, fmt: str) -> bytes:
    line: bytes = alert.to_json() + b"\n" if fmt == "json" else alert.to_text().encode() + b"\n"
    return line


class StdoutSink:
    name = "stdout"

    def __init__(self, *, fmt: str = "json", stream: IO[bytes] | None = None) -> None:
        if fmt not in ("json", "text"):
            raise ValueError(f"outputs.stdout.format: expected json or text, got {fmt!r}")
        self.fmt = fmt
        self._out = stream if stream is not None else sys.stdout.buffer

    def write(self, alert: Alert) -> None:
        self._out.write(_line(alert, self.fmt))

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self.flush()


class FileSink:
    """Append JSON lines to ``path``; reopen when the file was rotated away (rename/delete) or on ``reopen()``."""

    name = "file"

    def __init__(self, path: str | Path, *, fmt: str = "json") -> None:
        self.path = Path(path)
        self.fmt = fmt
        self._lock = threading.Lock()
        self._fh: IO[bytes] | None = None
        self._ino: int | None = None
        self._next_check = 0.0
        self._reopen_requested = False
        self._open()

    def _open(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open across writes, closed in close()
        self._ino = os.fstat(self._fh.fileno()).st_ino

    def reopen(self) -> None:
        """Called from a signal handler: only flag it, the worker thread reopens before its next write."""
        self._reopen_requested = True

    def _rotated(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + _CHECK_ROTATION_EVERY
        try:
            return os.stat(self.path).st_ino != self._ino
        except FileNotFoundError:
            return True

    def write(self, alert: Alert) -> None:
        with self._lock:
            if self._reopen_requested or self._fh is None or self._rotated():
                self._reopen_requested = False
                self._open()
            assert self._fh is not None
            self._fh.write(_line(alert, self.fmt))

    def flush(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def read_secret(path: str | Path, *, what: str) -> str:
    """The stripped content of a secret file; ``ValueError`` naming ``what`` and the path when unreadable/empty."""
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if not value:
        raise ValueError(f"{what}: {path} is empty")
    return value


class HttpSink:
    """POST each alert as one Falco JSON document (``Content-Type: application/json``), as Falcosidekick expects.

    A failed POST (connection error, 5xx, 429) is retried ``retries`` times with exponential backoff starting at
    ``backoff`` seconds; then ``write`` raises and the queue counts the alert as lost. 4xx other than 429 is not
    retried. One persistent connection per sink.
    """

    name = "http"

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        ca_file: str | None = None,
        token_file: str | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"outputs.http.url: expected an http(s) URL, got {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if token_file:
            self._headers["Authorization"] = "Bearer " + read_secret(
                token_file, what="outputs.http.token_file"
            )
        self._ssl = ssl.create_default_context(cafile=ca_file) if self._https else None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._conn: http.client.HTTPConnection | None = None
        self.posted = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _post(self, body: bytes) -> int:
        conn = self._connection()
        try:
            conn.request("POST", self._target, body=body, headers=self._headers)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        except (OSError, http.client.HTTPException):
            conn.close()
            self._conn = None
            raise

    def write(self, alert: Alert) -> None:
        body = alert.to_json()
        delay = self.backoff
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(delay)
                delay *= 2
            try:
                status = self._post(body)
            except (OSError, http.client.HTTPException) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if 200 <= status < 300:
                self.posted += 1
                return
            last = f"HTTP {status}"
            if status < 500 and status != 429:
                break
        raise ConnectionError(f"POST {self.url} failed: {last}")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def build_sinks(outputs: OutputsConfig) -> list[Sink]:
    """Sinks for the enabled entries of the ``outputs`` config section (already validated, defaults applied)."""
    sinks: list[Sink] = []
    stdout = outputs.get("stdout") or {}
    if stdout.get("enabled", True):
        sinks.append(StdoutSink(fmt=stdout.get("format", "json")))
    file = outputs.get("file") or {}
    if file.get("enabled"):
        path = file.get("path")
        if not path:
            raise ValueError("outputs.file.path: required when outputs.file is enabled")
        sinks.append(FileSink(path, fmt=file.get("format", "json")))
    http = outputs.get("http") or {}
    if http.get("enabled"):
        url = http.get("url")
        if not url:
            raise ValueError("outputs.http.url: required when outputs.http is enabled")
        sinks.append(
            HttpSink(
                url,
                headers=http.get("headers"),
                ca_file=http.get("ca_file"),
                token_file=http.get("token_file"),
                timeout=float(http.get("timeout", 5.0)),
                retries=int(http.get("retries", 2)),
            )
        )
    return sinks
