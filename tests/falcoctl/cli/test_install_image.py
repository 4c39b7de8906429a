"""``install --image``: the preflight resolves the image in a real registry (Debian's docker-registry) before
anything is applied — a missing image or refused credentials stop a dry run against the emulator with one line
and no request that changes the cluster; a found one is pinned by digest in the rendered DaemonSets; the
release namespace's imagePullSecrets are the credentials used."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from registry_support import RunningRegistry, auth_registry, push_test_image, registry  # noqa: F401

from falcoctl_py.cli import install as install_cli
from tests.falcoctl.cli.cluster_cli import run_cli
from tests.falcoctl.cli.test_install_cli import HAVE_HELM
from tests.falcoctl.deploy.fake_helm import FakeHelm
from tests.falcoctl.deploy.test_install import seed_cluster
from tests.kmock_support import api  # noqa: F401

pytestmark = pytest.mark.skipif(not HAVE_HELM, reason="helm binary needed to render the chart")


@pytest.fixture(autouse=True)
def _no_local_auth_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHelm:
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)  # credentials: only what the test gives
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    helm = FakeHelm()
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    return helm


def _images(out: str) -> set[str]:
    return {c["image"] for d in yaml.safe_load_all(out) if d and d.get("kind") == "DaemonSet"
            for c in d["spec"]["template"]["spec"]["containers"]}


async def test_missing_image_is_named_before_anything_is_applied(
    api, registry: RunningRegistry, capsys, _no_local_auth_file: FakeHelm  # noqa: F811
) -> None:
    seed_cluster(api)
    image = f"{registry.host}/falcopy/engine:9.9.9"
    code, out, err = await run_cli(capsys, "install", "--kubeconfig", str(api.kubeconfig), "--dry-run",
                                   "--image", image)
    assert code == 3
    assert err.strip().splitlines()[-1] == (
        f"Error: image {image} does not exist: no manifest in registry {registry.host} "
        "(push it with `falcoctl-py image push` or pass --image)")
    assert out == "" and api.mutations() == [] and _no_local_auth_file.verbs() == []


async def test_found_image_is_pinned_by_digest(api, registry: RunningRegistry, capsys, tmp_path: Path) -> None:  # noqa: F811
    seed_cluster(api)
    digest = push_test_image(registry.host, "falcopy/engine", "1.0.0", scratch=tmp_path / "blobs")
    code, out, err = await run_cli(capsys, "install", "--kubeconfig", str(api.kubeconfig), "--dry-run",
                                   "--image", f"{registry.host}/falcopy/engine:1.0.0")
    assert code == 0, err
    assert f"image {registry.host}/falcopy/engine:1.0.0: {digest} in {registry.host}" in err
    assert _images(out) == {f"{registry.host}/falcopy/engine@{digest}"}
    assert api.mutations() == []

    # a digest given with --image is checked, not trusted
    wrong = "sha256:" + "0" * 64
    code, _, err = await run_cli(capsys, "install", "--kubeconfig", str(api.kubeconfig), "--dry-run",
                                 "--image", f"{registry.host}/falcopy/engine@{wrong}")
    assert code == 3 and "does not exist" in err


async def test_credentials_come_from_the_release_image_pull_secrets(
    api, auth_registry: RunningRegistry, capsys, tmp_path: Path  # noqa: F811
) -> None:
    seed_cluster(api)
    host = auth_registry.host
    digest = push_test_image(host, "private/engine", "2.0", auth=auth_registry.auth, scratch=tmp_path / "blobs")
    image = f"{host}/private/engine:2.0"
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"imagePullSecrets": [{"name": "regcred"}]}))
    argv = ["install", "--kubeconfig", str(api.kubeconfig), "--dry-run", "--image", image]

    code, _, err = await run_cli(capsys, *argv)
    assert code == 3 and err.strip().endswith(
        f"Error: image {image}: registry {host} refused access anonymously (add an imagePullSecret with credentials)")

    code, _, err = await run_cli(capsys, *argv, "-f", str(values))  # named, but not in the namespace
    assert code == 3 and "imagePullSecret falco-py/regcred not found" in err and "refused access" in err

    user, password = auth_registry.auth  # type: ignore[misc]
    config = {"auths": {host: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    api.seed("v1/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "regcred", "namespace": "falco-py"},
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    })
    code, out, err = await run_cli(capsys, *argv, "-f", str(values))
    assert code == 0, err
    assert f"{digest} in {host} with imagePullSecrets regcred" in err
    assert _images(out) == {f"{host}/private/engine@{digest}"}
    assert api.mutations() == []
