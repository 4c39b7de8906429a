"""``falcoctl-py netpol``: only the chart's NetworkPolicies, both directions restricted."""

from __future__ import annotations

import os

import pytest
import yaml

from falcoctl_py.cli.main import main
from falcoctl_py.errors import HelmError
from falcoctl_py.helm import find_helm

pytestmark = pytest.mark.helm


@pytest.fixture(autouse=True)
def _helm() -> None:
    try:
        find_helm()
    except HelmError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_only_networkpolicies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "netpol", "--profile", "medium", "--set", "network.apiServer.cidrs={192.168.1.10/32}"
    )
    assert code == 0, err
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert [d["kind"] for d in docs] == ["NetworkPolicy"]
    spec = docs[0]["spec"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    webhook = [r for r in spec["ingress"] if r["ports"][0]["port"] == 9765]
    assert webhook[0]["from"] == [{"ipBlock": {"cidr": "192.168.1.10/32"}}]


def test_disabled_policy_is_a_finding(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "netpol", "--set", "networkPolicy.enabled=false")
    assert code == 1 and "rendered no NetworkPolicy" in err


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, err = run(capsys, "netpol", "-o", "json")
    assert code == 0, err
    assert [i["kind"] for i in json.loads(out)["items"]] == ["NetworkPolicy"]
