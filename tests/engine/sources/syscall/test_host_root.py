"""``sources.syscall.host_root``: where a pod without hostPID sees the host (its /proc, the runtime's state)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.config import validate_config
from engine.sources import syscall
from engine.sources.syscall import SyscallSourceUnavailable, build

CID = "ab" * 32


def _host(tmp_path: Path) -> Path:
    """A host root whose proc is the real procfs (a symlink stands in for the chart's read-only mount)."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "proc").symlink_to("/proc")
    bundle = host / "run/containerd/io.containerd.runtime.v2.task/k8s.io" / CID
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps({"annotations": {
        "io.kubernetes.cri.container-name": "web", "io.kubernetes.cri.image-name": "nginx:1.27"}}))
    return host


@pytest.fixture
def no_kernel_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(syscall.CHECKS, "proc", lambda: None)  # build only: nothing is opened until start()


def test_host_root_moves_the_process_table_and_the_runtime_state(tmp_path: Path, no_kernel_check: None) -> None:
    host = _host(tmp_path)
    source = build({"backend": "proc", "host_root": str(host), "k8s_metadata": {"enabled": False}})
    assert source.table.proc == f"{host}/proc"
    me = source.table.get(os.getpid())
    assert me is not None and me.pid == os.getpid()
    info = source.containers(CID[:12])  # found under <host_root>/run/containerd/..., not the pod's own /run
    assert info is not None and (info.name, info.image) == ("web", "nginx:1.27")


def test_host_root_comes_from_the_environment_when_the_config_has_none(
    tmp_path: Path, no_kernel_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = _host(tmp_path)
    monkeypatch.setenv("FALCOPY_HOST_ROOT", str(host))
    assert build({"backend": "proc"}).table.proc == f"{host}/proc"
    # also after the config file's defaults are filled in: the schema must not default host_root over the env
    loaded = validate_config({"rules": ["r"], "sources": {"syscall": {"backend": "proc"}}})
    assert build(loaded["sources"]["syscall"]).table.proc == f"{host}/proc"
    monkeypatch.delenv("FALCOPY_HOST_ROOT")
    assert build({"backend": "proc"}).table.proc == "/proc"


def test_a_host_root_without_procfs_is_refused_naming_the_path(tmp_path: Path, no_kernel_check: None) -> None:
    with pytest.raises(SyscallSourceUnavailable, match=f"no procfs at {tmp_path}/proc") as info:
        build({"backend": "proc", "host_root": str(tmp_path)})
    assert info.value.exit_code == 4
    with pytest.raises(ValueError, match="not an absolute path"):
        build({"backend": "proc", "host_root": "host"})
