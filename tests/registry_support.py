"""A real OCI registry for tests: Debian's ``docker-registry`` (distribution 2.8) on a free loopback port.

``start_registry(tmp, auth=(user, password))`` writes its config (filesystem storage under ``tmp``, htpasswd
basic auth when asked — bcrypt entries from ``htpasswd -B``), starts it, waits until ``/v2/`` answers, and
returns a ``RunningRegistry`` (``host`` is ``127.0.0.1:PORT``); ``stop()`` ends that process only. The
``registry`` and ``auth_registry`` fixtures wrap it. Without the binary the tests skip (``make test`` installs
it; under ``CI=true`` a skip fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cli_support import wait_or_kill
from http_support import free_port

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
            wait_or_kill(self.proc, 10)


def start_registry(tmp: Path, *, auth: tuple[str, str] | None = None) -> RunningRegistry:
    exe = shutil.which(BINARY)
    if exe is None:
        pytest.skip(f"{BINARY} not installed (make test installs Debian's docker-registry)")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
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
        # distribution reads REGISTRY_* variables as config overrides (REGISTRY_AUTH_FILE, podman's auth file
        # variable, would become auth.file): the test's config alone decides
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        proc = subprocess.Popen([exe, "serve", str(tmp / "config.yml")], stdout=out, stderr=subprocess.STDOUT,
                                env=env)
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


def push_test_image(host: str, repository: str, tag: str, *, auth: tuple[str, str] | None = None,
                    scratch: Path) -> str:
    """A small but complete OCI image (config + one layer) pushed to ``host``; its manifest digest."""
    import gzip
    import hashlib
    import io
    import tarfile

    import orjson

    from engine.oci.registry import Reference, Registry

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"engine stand-in\n"
        info = tarfile.TarInfo("etc/falco-py-test")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(buf.getvalue(), mtime=0)
    config = orjson.dumps({"architecture": "amd64", "os": "linux", "config": {"User": "65532:65532"},
                           "rootfs": {"type": "layers",
                                      "diff_ids": ["sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()]}})
    ref = Reference.parse(f"{host}/{repository}:{tag}")
    client = Registry(host, auths={host: auth} if auth else None)
    scratch.mkdir(parents=True, exist_ok=True)
    descs = []
    for blob, media in ((config, "application/vnd.oci.image.config.v1+json"),
                        (layer, "application/vnd.oci.image.layer.v1.tar+gzip")):
        descs.append({"mediaType": media, "digest": client.push_blob_bytes(ref, blob, scratch=scratch),
                      "size": len(blob)})
    manifest = orjson.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": descs[0], "layers": descs[1:]})
    return client.put_manifest(ref, manifest, "application/vnd.oci.image.manifest.v1+json")
