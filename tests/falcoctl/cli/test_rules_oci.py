"""``rules push`` / ``rules pull`` against a real registry (Debian's docker-registry on loopback): byte-identical
round trips, falcoctl's artifact layout read back by skopeo, an artifact pushed by another client (oras' own
push, the way falcoctl assembles one) pulled and loaded, basic auth, and refusals with their exit codes."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from cli_support import run
from registry_support import RunningRegistry, auth_registry, registry  # noqa: F401

from engine.oci.registry import Reference, Registry
from engine.oci.rulesfile import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, TITLE
from engine.rules import load_rules

REPO = Path(__file__).resolve().parents[3]
DEFAULT_RULES = REPO / "engine" / "default_rules" / "falco_py_rules.yaml"
EXTRA = """\
- required_engine_version: 0.50.0
- list: extra_shells
  items: [bash, zsh]
- rule: Extra shell in pod
  desc: a shell started
  condition: evt.type = execve and proc.name in (extra_shells)
  output: shell %proc.name
  priority: NOTICE
"""


def _skopeo(*args: str) -> dict:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed")
    out = subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=60).stdout
    return json.loads(out)


def test_push_then_pull_round_trips_files_byte_for_byte(registry: RunningRegistry, tmp_path: Path, capsys) -> None:  # noqa: F811
    extra = tmp_path / "extra_rules.yaml"
    extra.write_text(EXTRA)
    ref = f"{registry.host}/falcopy/rules:1.2.0"
    code, out, err = run(capsys, *["rules", "push", ref, str(DEFAULT_RULES), str(extra), "--version", "1.2.0"])
    assert code == 0, err
    digest = out.strip().rsplit("@", 1)[1]
    assert digest == Registry(registry.host).resolve(Reference.parse(ref))

    raw = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
    assert raw["config"]["mediaType"] == CONFIG_MEDIA_TYPE
    assert [lay["mediaType"] for lay in raw["layers"]] == [LAYER_MEDIA_TYPE] * 2
    assert [lay["annotations"][TITLE] for lay in raw["layers"]] == ["falco_py_rules.tar.gz", "extra_rules.tar.gz"]
    config = _skopeo("inspect", "--tls-verify=false", "--raw", "--config", f"docker://{ref}")
    assert config["name"] == "rules" and config["version"] == "1.2.0"
    # the highest required_engine_version of the files, and their plugin requirements
    assert config["requirements"] == [{"name": "engine_version_semver", "version": "0.57.0"}]
    assert config["dependencies"] == [{"name": "k8saudit", "version": "0.18.0"}]

    dest = tmp_path / "pulled"
    code, out, err = run(capsys, *["rules", "pull", ref, "-d", str(dest)])
    assert code == 0, err
    assert sorted(Path(p).name for p in out.split()) == ["extra_rules.yaml", "falco_py_rules.yaml"]
    assert (dest / "falco_py_rules.yaml").read_bytes() == DEFAULT_RULES.read_bytes()
    assert (dest / "extra_rules.yaml").read_bytes() == extra.read_bytes()
    # pushing the same files again gives the same layers (no timestamps in them)
    code, _, _ = run(capsys, *["rules", "push", ref, str(DEFAULT_RULES), str(extra)])
    again = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{ref}")
    assert [lay["digest"] for lay in again["layers"]] == [lay["digest"] for lay in raw["layers"]]


def test_an_artifact_assembled_by_another_client_is_pulled_and_loaded(
    registry: RunningRegistry, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """falcoctl's layout, pushed by oras' own ``push``: a tarball named ``<stem>.tar.gz`` holding the file at its
    root (with real mtimes and a gzip timestamp), config with name/version/requirements."""
    import oras.provider

    work = tmp_path / "falcoctl"
    work.mkdir()
    rules = work / "custom_rules.yaml"
    rules.write_text(EXTRA)
    with tarfile.open(work / "custom_rules.tar.gz", "w:gz") as tar:
        tar.add(rules, arcname="custom_rules.yaml")
    (work / "config.json").write_text(json.dumps({
        "name": "custom-rules", "version": "0.3.1",
        "requirements": [{"name": "engine_version_semver", "version": "0.50.0"}],
    }))
    monkeypatch.chdir(work)
    client = oras.provider.Registry(hostname=registry.host, insecure=True)
    resp = client.push(
        f"{registry.host}/falcosecurity/custom-rules:0.3.1",
        files=[f"custom_rules.tar.gz:{LAYER_MEDIA_TYPE}"],
        manifest_config=f"config.json:{CONFIG_MEDIA_TYPE}",
        quiet=True,
    )
    assert resp.status_code in (200, 201)
    dest = tmp_path / "out"
    code, _, err = run(capsys, *["rules", "pull", f"{registry.host}/falcosecurity/custom-rules:0.3.1", "-d", str(dest)])
    assert code == 0, err
    assert (dest / "custom_rules.yaml").read_bytes() == rules.read_bytes()
    result = load_rules([dest / "custom_rules.yaml"])
    assert result.successful and [r.name for r in result.ruleset.rules] == ["Extra shell in pod"]


def test_our_layer_is_what_falcoctl_unpacks(registry: RunningRegistry, capsys) -> None:  # noqa: F811
    ref = Reference.parse(f"{registry.host}/falcopy/one:latest")
    code, _, err = run(capsys, *["rules", "push", str(ref), str(DEFAULT_RULES)])
    assert code == 0, err
    client = Registry(registry.host)
    manifest = client.get_manifest(ref).json()
    blob = client.fetch_blob(ref, manifest["layers"][0]["digest"], max_bytes=1 << 24)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        members = tar.getmembers()
        assert [(m.name, m.isfile()) for m in members] == [("falco_py_rules.yaml", True)]
        assert tar.extractfile(members[0]).read() == DEFAULT_RULES.read_bytes()


def test_basic_auth_registry(auth_registry: RunningRegistry, tmp_path: Path, capsys,  # noqa: F811
                             monkeypatch: pytest.MonkeyPatch) -> None:
    ref = f"{auth_registry.host}/secure/rules:1"
    code, _, err = run(capsys, *["rules", "push", ref, str(DEFAULT_RULES)])
    assert code == 3 and "refused access (HTTP 401)" in err and "Traceback" not in err
    monkeypatch.setenv("FALCOPY_REGISTRY_PASSWORD", "wrong")
    code, _, err = run(capsys, *["rules", "push", ref, str(DEFAULT_RULES), "--username", "falcopy"])
    assert code == 3 and "refused access" in err
    monkeypatch.setenv("FALCOPY_REGISTRY_PASSWORD", "s3cret-pass")
    code, _, err = run(capsys, *["rules", "push", ref, str(DEFAULT_RULES), "--username", "falcopy"])
    assert code == 0, err
    # an auth file in Docker's format, as an imagePullSecret's .dockerconfigjson holds
    import base64

    auth_file = tmp_path / "auth.json"
    token = base64.b64encode(b"falcopy:s3cret-pass").decode()
    auth_file.write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    monkeypatch.delenv("FALCOPY_REGISTRY_PASSWORD")
    code, _, err = run(capsys, *["rules", "pull", ref, "-d", str(tmp_path / "p"), "--registry-config", str(auth_file)])
    assert code == 0, err
    assert (tmp_path / "p" / "falco_py_rules.yaml").read_bytes() == DEFAULT_RULES.read_bytes()


def test_refusals_name_the_problem(registry: RunningRegistry, tmp_path: Path, capsys) -> None:  # noqa: F811
    bad = tmp_path / "bad_rules.yaml"
    bad.write_text("- rule: broken\n  condition: evt.type = \n  output: x\n  priority: INFO\n  desc: d\n")
    ref = f"{registry.host}/falcopy/bad:1"
    code, _, err = run(capsys, *["rules", "push", ref, str(bad)])
    assert code == 1 and "error(s) loading the rules" in err and "bad_rules.yaml" in err
    code, _, err = run(capsys, *["rules", "pull", ref, "-d", str(tmp_path / "x")])
    assert code == 3 and "not found" in err  # nothing was pushed
    code, _, err = run(capsys, *["rules", "push", "no-registry-here", str(DEFAULT_RULES)])
    assert code == 2 and "HOST[:PORT]/REPOSITORY" in err

    future = tmp_path / "future_rules.yaml"
    future.write_text(EXTRA.replace("0.50.0", "0.99.0"))
    from engine.oci import rulesfile

    client = Registry(registry.host)
    built = rulesfile.build_artifact({"future_rules.yaml": future.read_bytes()}, name="future")
    rulesfile.push(client, Reference.parse(f"{registry.host}/falcopy/future:1"), built)
    dest = tmp_path / "future"
    code, _, err = run(capsys, *["rules", "pull", f"{registry.host}/falcopy/future:1", "-d", str(dest)])
    assert code == 1 and "needs engine version 0.99.0" in err
    assert not dest.exists() or not any(dest.iterdir())


def test_an_image_is_not_a_rules_artifact(registry: RunningRegistry, tmp_path: Path, capsys) -> None:  # noqa: F811
    ref = Reference.parse(f"{registry.host}/falcopy/image:1")
    client = Registry(registry.host)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    digest = client.push_blob_bytes(ref, config, scratch=tmp_path)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest, "size": len(config)}, "layers": []}).encode()
    client.put_manifest(ref, manifest, "application/vnd.oci.image.manifest.v1+json")
    code, _, err = run(capsys, *["rules", "pull", str(ref), "-d", str(tmp_path / "o")])
    assert code == 1 and "not a Falco rulesfile artifact" in err
