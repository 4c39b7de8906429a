"""The engine under test: the bundled engine started as its own process on this node, alerts read back.

Owns: the engine configuration verify uses (the user's rules, the chosen syscall backend, JSON alerts on stdout,
``append_output`` with the test-id field, no metrics port or rules reload, no pod watch), starting it with
``falcoctl-py engine run``, waiting until it reports that it serves, collecting every alert line in a thread,
and stopping it (SIGTERM, then SIGKILL) — its own cleanup restores the kernel state it changed.

Must not: run tests or judge alerts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from falcoctl_py.errors import FindingsError, PrivilegeError
from falcoctl_py.verify.matching import ID_FIELD

READY = "engine serving:"


def config(rules: list[Path], backend: str, state_root: Path | None) -> dict[str, Any]:
    syscall: dict[str, Any] = {"backend": backend, "k8s_metadata": {"enabled": False}}
    if state_root is not None:
        syscall["container_state_roots"] = [str(state_root)]
    return {
        "rules": [str(p.resolve()) for p in rules], "priority": "debug", "log_level": "info",
        "sources": {"syscall": syscall}, "outputs": {"stdout": {"format": "json"}},
        "metrics": {"enabled": False}, "reload": {"watch": False},
        "append_output": [{"extra_fields": [ID_FIELD]}],
    }


class EngineProcess:
    """A running engine and the alerts it has printed so far."""

    def __init__(self, workdir: Path, rules: list[Path], backend: str, *, state_root: Path | None = None,
                 start_timeout: float = 60.0) -> None:
        path = workdir / "engine.yaml"
        path.write_text(yaml.safe_dump(config(rules, backend, state_root)))
        self.alerts: list[dict[str, Any]] = []
        self.log: list[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.proc = subprocess.Popen([sys.executable, "-m", "falcoctl_py.cli.main", "engine", "run", "--config",
                                      str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._readers = [threading.Thread(target=self._read_alerts, daemon=True),
                         threading.Thread(target=self._read_log, daemon=True)]
        for reader in self._readers:
            reader.start()
        deadline = time.monotonic() + start_timeout
        while not self._ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = " | ".join(self.log[-3:]) or "no output"
                exc = PrivilegeError if self.proc.returncode == 4 else FindingsError
                raise exc(f"the engine did not start with backend {backend} (exit {self.proc.returncode}): {tail}")

    def _read_alerts(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                alert = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            with self._lock:
                self.alerts.append(alert)

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            if READY in line:
                self._ready.set()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.alerts)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:  # they end at EOF of the pipes, once the engine has exited
            reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
