"""``falcoctl-py rollback``: the helm command line, then the rollout wait."""

from __future__ import annotations

from falcoctl_py.cli import install as install_cli
from tests.falcoctl.cli.cluster_cli import run_cli
from tests.falcoctl.deploy.fake_helm import FakeHelm
from tests.kmock_support import api, daemonset  # noqa: F401


async def test_rollback_runs_helm_and_waits(api, capsys, monkeypatch):  # noqa: F811
    helm = FakeHelm()
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    api.seed("apps/v1/daemonsets", daemonset("falco-py", "falco-py"))
    code, _, err = await run_cli(
        capsys, "rollback", "3", "--kubeconfig", str(api.kubeconfig), "--context", "fake", "--timeout", "30"
    )
    assert code == 0, err
    assert helm.calls == [
        [
            "rollback",
            "falco-py",
            "3",
            "--namespace",
            "falco-py",
            "--kube-context",
            "fake",
            "--kubeconfig",
            str(api.kubeconfig),
            "--wait=watcher",
            "--timeout",
            "30s",
        ]
    ]
    assert "rolled back to 3" in err
    assert any(r.params.get("watch") == "true" for r in api.requests_to("/daemonsets"))


async def test_rollback_revision_zero_is_usage_error(capsys):
    code, _, err = await run_cli(capsys, "rollback", "0")
    assert code == 2 and "0" in err
