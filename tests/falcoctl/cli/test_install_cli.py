"""``falcoctl-py install`` end to end against kmock with a recording helm."""

from __future__ import annotations

import pytest

from falcoctl_py.cli import install as install_cli
from falcoctl_py.helm import find_helm
from tests.falcoctl.cli.cluster_cli import run_cli
from tests.falcoctl.deploy.fake_helm import FakeHelm
from tests.falcoctl.deploy.test_install import seed_cluster
from tests.http_support import free_port
from tests.kmock_support import api  # noqa: F401

try:
    find_helm()
    HAVE_HELM = True
except Exception:  # noqa: BLE001
    HAVE_HELM = False


@pytest.mark.skipif(not HAVE_HELM, reason="helm binary needed to render the chart")
async def test_dry_run_prints_manifests_and_command_changes_nothing(api, capsys, monkeypatch):  # noqa: F811
    seed_cluster(api)
    helm = FakeHelm()
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    code, out, err = await run_cli(
        capsys,
        "install",
        "--kubeconfig",
        str(api.kubeconfig),
        "--profile",
        "medium",
        "--dry-run",
        "--set",
        "engine.logLevel=debug",
    )
    assert code == 0, err
    assert "kind: DaemonSet" in out and "kind: NetworkPolicy" in out
    assert "would run: helm upgrade --install falco-py" in err and "--rollback-on-failure" in err
    assert "first install" in err
    assert api.mutations() == [] and helm.verbs() == ["get values", "get manifest"]


@pytest.mark.skipif(not HAVE_HELM, reason="helm binary needed to render the chart")
async def test_without_yes_and_no_terminal_refuses(api, capsys, monkeypatch):  # noqa: F811
    seed_cluster(api)
    monkeypatch.setattr(install_cli, "make_helm", lambda: FakeHelm())
    code, _, err = await run_cli(
        capsys, "install", "--kubeconfig", str(api.kubeconfig), "--profile", "medium", "--no-image-check"
    )
    assert code == 3 and "pass --yes" in err and api.mutations() == []


async def test_unreachable_cluster_exits_3_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(install_cli, "make_helm", lambda: FakeHelm())
    cfg = tmp_path / "kc"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    for cmd in (
        ["install", "--yes"],
        ["status"],
        ["upgrade", "--engine-version", "1.0", "--profile", "small"],
        ["rollback"],
        ["uninstall", "--yes"],
        ["audit", "setup"],
    ):
        code, _out, err = await run_cli(capsys, *cmd, "--kubeconfig", str(cfg))
        assert code == 3, (cmd, err)
        assert err.count("\n") == 1 and err.startswith("Error: ") and "API server unreachable" in err, (
            cmd,
            err,
        )
        assert "Traceback" not in err


@pytest.mark.skipif(not HAVE_HELM, reason="helm binary needed to render the chart")
async def test_dry_run_with_unreachable_cluster_renders_from_the_profile(tmp_path, capsys, monkeypatch):
    import json

    helm = FakeHelm()
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    cfg = tmp_path / "kc"
    server = f"https://127.0.0.1:{free_port()}"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    code, out, err = await run_cli(
        capsys, "install", "--kubeconfig", str(cfg), "--dry-run", "-o", "json", "--profile", "medium"
    )
    assert code == 0, err
    assert err.splitlines() == [
        f"warning: cluster {server} unreachable: sizing from the profile medium alone, no diff",
        # the default registry is out of reach here too: a dry run says the image is unverified, no more
        ("warning: image ghcr.io/falco-py/engine:0.1.0 not verified: registry ghcr.io unreachable: "
         "cannot resolve its host name"),
    ]
    kinds = {d["kind"] for d in json.loads(out)["items"]}
    assert "DaemonSet" in kinds and helm.verbs() == []


async def test_missing_kubeconfig_context_is_exit_3(tmp_path, capsys):
    cfg = tmp_path / "kc"
    cfg.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n")
    code, _, err = await run_cli(capsys, "status", "--kubeconfig", str(cfg), "--context", "prod")
    assert code == 3 and err.startswith("Error: kubeconfig") and err.count("\n") == 1


async def test_missing_kubeconfig_file_names_the_path(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(install_cli, "make_helm", lambda: FakeHelm())
    missing = str(tmp_path / "nonexist" / "kc")
    for cmd in (["install"], ["status"], ["rollback"], ["uninstall", "--yes"], ["audit", "setup"]):
        code, _, err = await run_cli(capsys, *cmd, "--kubeconfig", missing)
        assert code == 3 and err == f"Error: kubeconfig {missing}: no such file\n", (cmd, err)
    monkeypatch.setenv("KUBECONFIG", missing)
    code, _, err = await run_cli(capsys, "status")
    assert code == 3 and err == f"Error: kubeconfig {missing}: no such file\n", err
