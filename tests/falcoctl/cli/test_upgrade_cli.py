"""``falcoctl-py upgrade`` via the CLI: rules-only update through kmock; flag errors are exit 2."""

from __future__ import annotations

from tests.falcoctl.cli.cluster_cli import run_cli
from tests.falcoctl.deploy.test_rules_upgrade import NS, REL, RULES, seed_release
from tests.kmock_support import api  # noqa: F401


async def test_rules_upgrade_prints_checksum_and_touches_only_the_configmap(api, capsys, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "mine.yaml"
    f.write_text(RULES.format(req="15"))
    code, out, err = await run_cli(capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", str(f),
                                   "--timeout", "10")
    assert code == 0, err
    assert f"configmap {REL}-rules: replaced old.yaml with mine.yaml" in out
    assert "all 2 pod(s) run rules" in err
    assert api.mutations() == [f"PATCH /api/v1/namespaces/{NS}/configmaps/{REL}-rules"]


async def test_rules_upgrade_dry_run_changes_nothing(api, capsys, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "mine.yaml"
    f.write_text(RULES.format(req="0.26.0"))
    code, out, _ = await run_cli(capsys, "upgrade", "--kubeconfig", str(api.kubeconfig), "--rules", str(f),
                                 "--dry-run")
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
