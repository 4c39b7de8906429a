"""Container metadata from an OCI runtime bundle kept where containerd keeps it."""

from __future__ import annotations

import json
from pathlib import Path

from engine.state.runtime_state import RuntimeState, combined

CID = "ab" * 32


def _bundle(root: Path, caps: list[str]) -> None:
    d = root / "k8s.io" / CID
    d.mkdir(parents=True)
    spec = {"annotations": {"io.kubernetes.cri.container-name": "web", "io.kubernetes.cri.image-name":
                            "docker.io/library/nginx:1.27", "io.kubernetes.cri.sandbox-namespace": "prod"},
            "process": {"capabilities": {"bounding": caps}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}
    (d / "config.json").write_text(json.dumps(spec))


def test_bundle_gives_name_image_and_privileged(tmp_path: Path) -> None:
    _bundle(tmp_path, [f"CAP_{i}" for i in range(64)])
    info = RuntimeState([str(tmp_path)]).lookup(CID[:12])
    assert info is not None
    assert (info.name, info.image, info.image_repository, info.image_tag) == (
        "web", "docker.io/library/nginx:1.27", "docker.io/library/nginx", "1.27")
    assert info.privileged is True and info.pod_namespace == "prod"
    assert info.host_pid is False and info.host_network is True


def test_few_capabilities_is_not_privileged_and_unknown_is_none(tmp_path: Path) -> None:
    _bundle(tmp_path, ["CAP_CHOWN", "CAP_KILL"])
    state = RuntimeState([str(tmp_path)])
    assert state.lookup(CID[:12]).privileged is False  # type: ignore[union-attr]
    assert state.lookup("0123456789ab") is None
    resolve = combined(lambda m: None, state)
    assert resolve(CID[:12]).name == "web" and resolve("host") is None  # type: ignore[union-attr]
