"""``image push`` of an OCI layout to a real registry (Debian's docker-registry): the manifest lands unchanged
under the tag (same digest, read back by skopeo), with basic auth too, and a missing or damaged layout or a bad ``--registry`` is
one line with its exit code."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from cli_support import run
from registry_support import RunningRegistry, auth_registry, registry  # noqa: F401

from falcoctl_py.image.layout import read_layout


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_layout(layout: Path, *, tag: str = "1.0.0") -> str:
    """A small OCI layout as ``buildah push oci:`` writes one: index -> manifest -> config + a layer."""
    layer = gzip.compress(b"\0" * 1024, mtime=0)
    config = orjson.dumps({"architecture": "amd64", "os": "linux",
                           "config": {"User": "65532:65532", "Entrypoint": ["falcoctl-py", "engine", "run"],
                                      "Labels": {"org.opencontainers.image.version": tag}},
                           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(b"\0" * 1024)
                                                                     .hexdigest()]}})
    manifest = orjson.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, layer)}]})
    desc = _blob(layout, manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_bytes(orjson.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **desc,
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return str(desc["digest"])


def test_push_keeps_the_manifest_digest_and_skopeo_reads_it(registry: RunningRegistry, tmp_path: Path,  # noqa: F811
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    digest = make_layout(tmp_path / "layout")
    layout = read_layout(tmp_path / "layout")
    assert layout.tag == "1.0.0" and layout.user == "65532:65532" and layout.compressed_bytes > 0
    code, out, err = run(capsys, "image", "push", "--registry", f"oci://{registry.host}/team/",
                         "--layout", str(tmp_path / "layout"))
    assert code == 0, err
    assert out.strip() == f"{registry.host}/team/engine:1.0.0@{digest}"
    if shutil.which("skopeo"):
        raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                              f"docker://{registry.host}/team/engine:1.0.0"], check=True, capture_output=True).stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    # again under another repository and tag: same bytes, same digest
    code, out, _ = run(capsys, "image", "push", "--registry", registry.host, "--layout", str(tmp_path / "layout"),
                       "--tag", "stable", "--name", "falco-py-engine")
    assert code == 0 and out.strip() == f"{registry.host}/falco-py-engine:stable@{digest}"


def test_push_with_basic_auth(auth_registry: RunningRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_layout(tmp_path / "layout")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "none"))
    args = ["image", "push", "--registry", auth_registry.host, "--layout", str(tmp_path / "layout")]
    code, _, err = run(capsys, *args)
    assert code == 3 and "refused access (HTTP 401)" in err and err.count("\n") == 1
    user, password = auth_registry.auth  # type: ignore[misc]
    monkeypatch.setenv("FALCOPY_REGISTRY_PASSWORD", password)
    code, out, err = run(capsys, *args, "--username", user)
    assert code == 0, err
    assert out.startswith(f"{auth_registry.host}/engine:1.0.0@sha256:")


def test_bad_layouts_and_registries_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "image", "push", "--registry", "127.0.0.1:1", "--layout", str(tmp_path / "nope"))
    assert code == 2 and "not an OCI image layout" in err and "make image" in err
    make_layout(tmp_path / "layout")
    code, _, err = run(capsys, "image", "push", "--registry", "127.0.0.1:1/x:tag", "--layout", str(tmp_path / "layout"))
    assert code == 2 and "expected HOST[:PORT][/PATH], without a tag" in err
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    manifest_path = tmp_path / "layout" / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    layer = json.loads(manifest_path.read_text())["layers"][0]["digest"].split(":")[1]
    (tmp_path / "layout" / "blobs" / "sha256" / layer).unlink()
    code, _, err = run(capsys, "image", "push", "--registry", "127.0.0.1:1", "--layout", str(tmp_path / "layout"))
    assert code == 1 and f"blob sha256:{layer} is missing" in err and err.count("\n") == 1
    code, _, err = run(capsys, "image", "push", "--registry", "127.0.0.1:1", "--layout", str(tmp_path / "layout"),
                       "--tag", "x")
    assert code == 1  # the layout is checked before the registry is called


def test_damaged_layout_json_and_auth_files_name_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The layout's JSON files and the auth file go through one reader: unreadable is a usage error (2), a file
    that is not a JSON object is a finding (1), each one line naming the file and what it should have been."""
    layout = tmp_path / "layout"
    make_layout(layout)
    push = ["image", "push", "--registry", "127.0.0.1:1", "--layout", str(layout)]
    auth = tmp_path / "auth.json"
    code, _, err = run(capsys, *push, "--registry-config", str(auth))
    assert code == 2 and f"{auth}: cannot read registry auth file" in err and err.count("\n") == 1
    auth.write_text("{not json")
    code, _, err = run(capsys, *push, "--registry-config", str(auth))
    assert code == 1 and f"{auth}: registry auth file is not JSON" in err and err.count("\n") == 1
    index = layout / "index.json"
    good = index.read_bytes()
    index.write_text("[1, 2]")
    code, _, err = run(capsys, *push)
    assert code == 1 and f"{index}: index is not a JSON object" in err and err.count("\n") == 1
    index.write_bytes(good)
    entry = json.loads(good)["manifests"][0]
    manifest = layout / "blobs" / "sha256" / entry["digest"].split(":")[1]
    config_blob = json.loads(manifest.read_text())["config"]["digest"].split(":")[1]
    blob = layout / "blobs" / "sha256" / config_blob
    blob.write_bytes(b"~" * blob.stat().st_size)  # the size its descriptor says, but not JSON
    code, _, err = run(capsys, *push)
    assert code == 1 and f"{blob}: image config is not JSON" in err and err.count("\n") == 1
