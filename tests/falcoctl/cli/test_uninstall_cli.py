"""``falcoctl-py uninstall``: helm argv; refuses without --yes when there is no terminal."""

from __future__ import annotations

from falcoctl_py.cli import install as install_cli
from tests.falcoctl.cli.cluster_cli import run_cli
from tests.falcoctl.deploy.fake_helm import FakeHelm
from tests.kmock_support import api  # noqa: F401


async def test_uninstall_with_yes_runs_helm(api, capsys, monkeypatch):  # noqa: F811
    helm = FakeHelm()
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    code, _out, err = await run_cli(
        capsys, "uninstall", "--kubeconfig", str(api.kubeconfig), "-n", "sec", "--yes"
    )
    assert code == 0, err
    assert helm.calls == [
        [
            "uninstall",
            "falco-py",
            "--namespace",
            "sec",
            "--kubeconfig",
            str(api.kubeconfig),
            "--timeout",
            "300s",
            "--wait",
        ]
    ]


async def test_uninstall_without_yes_refuses(api, capsys, monkeypatch):  # noqa: F811
    helm = FakeHelm()
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    code, _, err = await run_cli(capsys, "uninstall", "--kubeconfig", str(api.kubeconfig))
    assert code == 3 and "pass --yes" in err and helm.calls == []
