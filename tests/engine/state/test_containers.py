"""Container ids from real cgroup path shapes (containerd, CRI-O, cri-dockerd, Docker; systemd and cgroupfs)."""

from __future__ import annotations

import pytest

from engine.state.containers import HOST, from_cgroup_text, match_path

FULL = "3f8e1c2b9a7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"
POD = "0b1c2d3e-4f50-4a1b-9c8d-7e6f5a4b3c2d"
POD_U = POD.replace("-", "_")

SAMPLES = [
    # (cgroup path, runtime, pod uid)
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_U}.slice/cri-containerd-{FULL}.scope",
     "containerd", POD),
    (f"/kubepods.slice/kubepods-pod{POD_U}.slice/cri-containerd-{FULL}.scope", "containerd", POD),
    (f"/kubepods/besteffort/pod{POD}/{FULL}", None, POD),
    (f"/kubepods/pod{POD}/{FULL}", None, POD),
    (f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD_U}.slice/crio-{FULL}.scope",
     "cri-o", POD),
    (f"/kubepods/burstable/pod{POD}/crio-{FULL}", "cri-o", POD),
    (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{POD_U}.slice/docker-{FULL}.scope",
     "docker", POD),
    (f"/system.slice/docker-{FULL}.scope", "docker", None),
    (f"/docker/{FULL}", "docker", None),
    (f"/system.slice/containerd.service/kubepods-burstable-pod{POD_U}.slice:cri-containerd:{FULL}",
     "containerd", None),
]


@pytest.mark.parametrize(("path", "runtime", "pod"), SAMPLES, ids=[s[0][:40] for s in SAMPLES])
def test_runtime_paths_give_short_id(path: str, runtime: str | None, pod: str | None) -> None:
    found = match_path(path)
    assert found is not None
    assert (found.id, found.full_id, found.runtime, found.pod_uid) == (FULL[:12], FULL, runtime, pod)


@pytest.mark.parametrize("path", ["/", "/user.slice/user-0.slice/session-3.scope", "/system.slice/sshd.service",
                                  "/init.scope", "/kubepods.slice/kubepods-besteffort.slice", "/docker/abc"])
def test_non_container_paths(path: str) -> None:
    assert match_path(path) is None


def test_cgroup_file_v1_and_v2_lines() -> None:
    text = ("12:pids:/user.slice\n"
            f"11:memory:/kubepods/besteffort/pod{POD}/{FULL}\n"
            "0::/user.slice/user-0.slice\n")
    assert from_cgroup_text(text).id == FULL[:12]
    assert from_cgroup_text("0::/init.scope\n").id == HOST
