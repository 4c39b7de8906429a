"""``falcoctl-py upgrade`` via the CLI: rules-only update through kmock; flag errors are exit 2."""

from __future__ import annotations

from registry_support import registry  # noqa: F401

from tests.falcoctl.cli.cluster_cli import run_cli
from tests.falcoctl.deploy.test_rules_upgrade import NS, REL, RULES, seed_release
from tests.kmock_support import api  # noqa: F401


async def test_rules_upgrade_prints_checksum_and_touches_only_the_configmap(api, capsys, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "mine.yaml"
    f.write_text(RULES.format(req="15"))
    code, out, err = await run_cli(
        capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", str(f), "--timeout", "10"
    )
    assert code == 0, err
    assert f"configmap {REL}-rules: replaced old.yaml with mine.yaml" in out
    assert "all 2 pod(s) run rules" in err
    assert api.mutations() == [f"PATCH /api/v1/namespaces/{NS}/configmaps/{REL}-rules"]


async def test_rules_upgrade_dry_run_changes_nothing(api, capsys, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "mine.yaml"
    f.write_text(RULES.format(req="0.26.0"))
    code, out, _ = await run_cli(
        capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", str(f), "--dry-run"
    )
    assert code == 0 and "would replace" in out and api.mutations() == []


async def test_bad_rules_exit_1_one_line(api, capsys, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "bad.yaml"
    f.write_text("- rule: x\n  desc: d\n  condition: evt.type = \n  output: o\n  priority: WARNING\n")
    code, _, err = await run_cli(capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", str(f))
    assert code == 1 and err.count("\n") == 1 and "bad.yaml" in err and api.mutations() == []


async def test_needs_exactly_one_mode(capsys):
    code, _, err = await run_cli(capsys, "upgrade")
    assert code == 2 and "exactly one of --engine-version or --rules" in err


async def test_engine_version_dry_run_uses_stored_profile_and_sets_image_tag(api, capsys, monkeypatch):  # noqa: F811
    import pytest

    from falcoctl_py.cli import install as install_cli
    from falcoctl_py.deploy.install import INPUTS_SUFFIX
    from falcoctl_py.helm import find_helm
    from tests.falcoctl.deploy.fake_helm import FakeHelm
    from tests.falcoctl.deploy.test_install import seed_cluster

    try:
        find_helm()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(str(exc))
    seed_cluster(api)
    api.seed(
        "v1/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": REL + INPUTS_SUFFIX, "namespace": NS},
            "data": {"values.yaml": "{}\n", "sets.yaml": "[]\n", "profile": "medium"},
        },
    )
    helm = FakeHelm(deployed_values={"image": {"tag": "0.1.0"}})
    monkeypatch.setattr(install_cli, "make_helm", lambda: helm)
    code, out, err = await run_cli(
        capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--engine-version", "0.2.0", "--dry-run"
    )
    assert code == 0, err
    assert 'value image.tag: "0.1.0" -> "0.2.0"' in err
    assert "engine:0.2.0" in out  # the rendered DaemonSets run the new image
    assert "would run: helm upgrade --install" in err and api.mutations() == []


async def test_bad_rules_are_a_finding_before_an_unreachable_cluster(capsys, tmp_path):
    cfg = tmp_path / "kc.yaml"
    cfg.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    f = tmp_path / "badcond.yaml"
    f.write_text("- rule: x\n  desc: d\n  condition: evt.type = execve and (\n  output: o\n  priority: WARNING\n")
    for kc in (str(cfg), str(tmp_path / "missing-kc")):
        code, _, err = await run_cli(capsys, "upgrade", "--kubeconfig", kc, "--rules", str(f), "--dry-run")
        assert code == 1 and err.count("\n") == 1, err
        assert err.startswith(f"Error: {f}:3:") and "rules rejected by the engine's loader" in err, err


async def test_rules_from_an_oci_artifact(api, capsys, tmp_path, registry):  # noqa: F811
    """``--rules oci://REF`` pulls a pushed rulesfile artifact and puts its files, byte for byte, in the
    ConfigMap; a missing artifact is refused in one line before the cluster is touched."""
    seed_release(api)
    f = tmp_path / "mine.yaml"
    f.write_text(RULES.format(req="15"))
    ref = f"{registry.host}/falcopy/my-rules:1.0"
    code, _, err = await run_cli(capsys, "rules", "push", ref, str(f))
    assert code == 0, err
    code, out, err = await run_cli(
        capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", f"oci://{ref}", "--timeout", "10"
    )
    assert code == 0, err
    assert f"pulled {registry.host}/falcopy/my-rules@sha256:" in err
    assert f"configmap {REL}-rules: replaced old.yaml with mine.yaml" in out
    assert api.get("v1/configmaps", NS, f"{REL}-rules")["data"] == {"mine.yaml": f.read_text()}

    before = api.mutations()
    code, _, err = await run_cli(
        capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", f"oci://{registry.host}/falcopy/nope:1"
    )
    assert code == 3 and err.count("\n") == 1 and "not found in registry" in err and api.mutations() == before
