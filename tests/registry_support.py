"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on a free loopback port.

``start_registry(tmp, auth=(user, password))`` writes its config (filesystem storage under ``tmp``, htpasswd
basic auth when asked — bcrypt entries from ``htpasswd -B``), starts it, waits until ``/v2/`` answers, and
returns a ``RunningRegistry`` (``host`` is ``127.0.0.1:PORT``); ``stop()`` ends that process only. The
``registry`` and ``auth_registry`` fixtures wrap it. Without the binary the tests skip (``make test`` installs
it; under ``CI=true`` a skip fails).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

BINARY = "docker-registry"


@dataclass
class RunningRegistry:
    host: str
    proc: subprocess.Popen[bytes]
    log: Path
    auth: tuple[str, str] | None = None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(tmp: Path, *, auth: tuple[str, str] | None = None) -> RunningRegistry:
    exe = shutil.which(BINARY)
    if exe is None:
        pytest.skip(f"{BINARY} not installed (make test installs Debian's docker-registry)")
    tmp.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth is not None:
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            pytest.skip("htpasswd not installed (Debian apache2-utils)")
        line = subprocess.run([htpasswd, "-Bbn", auth[0], auth[1]], check=True, capture_output=True).stdout
        (tmp / "htpasswd").write_bytes(line.strip() + b"\n")
        config["auth"] = {"htpasswd": {"realm": "falcopy-test", "path": str(tmp / "htpasswd")}}
    (tmp / "config.yml").write_text(yaml.safe_dump(config))
    log = tmp / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "serve", str(tmp / "config.yml")], stdout=out, stderr=subprocess.STDOUT)
    running = RunningRegistry(host=f"127.0.0.1:{port}", proc=proc, log=log, auth=auth)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{BINARY} exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://{running.host}/v2/", timeout=1)
            return running
        except urllib.error.HTTPError:
            return running  # 401 with auth on: it is serving
        except OSError:
            time.sleep(0.1)
    running.stop()
    raise RuntimeError(f"{BINARY} did not answer on {running.host}")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "registry")
    yield reg
    reg.stop()


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "registry-auth", auth=("falcopy", "s3cret-pass"))
    yield reg
    reg.stop()
