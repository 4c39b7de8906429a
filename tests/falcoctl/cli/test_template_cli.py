"""``falcoctl-py template``: render + schema-check, print YAML or write files; typos stop before helm runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_support import require_helm, run

pytestmark = pytest.mark.helm


@pytest.fixture(autouse=True)
def _helm() -> None:
    require_helm()




def test_prints_checked_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "template", "--profile", "large", "--kube-version", "1.35")
    assert code == 0, err
    kinds = [d["kind"] for d in yaml.safe_load_all(out) if d]
    assert kinds.count("DaemonSet") == 4 and "Deployment" in kinds
    assert "Kubernetes 1.35.0:" in err and "0 error(s)" in err


def test_output_dir(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _err = run(capsys, "template", "--profile", "small", "--output-dir", str(tmp_path / "m"))
    assert code == 0 and out == ""
    files = sorted((tmp_path / "m").glob("*.yaml"))
    assert len(files) >= 8 and any("daemonset" in f.name for f in files)


def test_typo_refused_before_render(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FALCOPY_HELM", "/nonexistent/helm")  # would fail with exit 3 if helm were reached
    code, _, err = run(capsys, "template", "--set", "networkPolicy.enabeld=false")
    assert code == 2 and "unknown key 'enabeld'" in err


def test_chart_failure_is_exit_3_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "template",
        "--set",
        "nodePools.labelKey=pool",
        "--set",
        "nodePools.pools[0].name=a",
        "--set",
        "nodePools.pools[0].value=x",
        "--set",
        "nodePools.pools[0].resources.requests.cpu=100m",
        "--set",
        "nodePools.pools[0].resources.requests.memory=128Mi",
        "--set",
        "nodePools.pools[0].resources.limits.cpu=1",
        "--set",
        "nodePools.pools[0].resources.limits.memory=256Mi",
        "--set",
        "nodePools.pools[1].name=b",
        "--set",
        "nodePools.pools[1].value=x",
        "--set",
        "nodePools.pools[1].resources.requests.cpu=100m",
        "--set",
        "nodePools.pools[1].resources.requests.memory=128Mi",
        "--set",
        "nodePools.pools[1].resources.limits.cpu=1",
        "--set",
        "nodePools.pools[1].resources.limits.memory=256Mi",
    )
    assert code == 3 and err.count("\n") == 1 and "overlapping node selectors" in err


def test_bad_kube_version_is_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "template", "--kube-version", "one.thirty")
    assert code == 2 and "MAJOR.MINOR" in err


@pytest.mark.parametrize("command", ["template", "netpol"])
@pytest.mark.parametrize("version", ["0.1", "99.99"])
def test_kube_version_outside_the_supported_range_is_usage(
    capsys: pytest.CaptureFixture[str], command: str, version: str
) -> None:
    code, out, err = run(capsys, command, "--kube-version", version)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"no Kubernetes schemas for {version} (bundled: " in err


def test_json_output_is_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "template", "--profile", "medium", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "List" and {i["kind"] for i in doc["items"]} >= {"DaemonSet", "NetworkPolicy"}


def test_real_entry_point_one_line_no_traceback() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "falcoctl_py.cli.main", "template", "--set", "imagee.tag=1"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "Error: chart values rejected: (top level): unknown key 'imagee' (from --set imagee.tag=1)"
    ]
