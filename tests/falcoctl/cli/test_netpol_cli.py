"""``falcoctl-py netpol``: only the chart's NetworkPolicies, both directions restricted."""

from __future__ import annotations

import pytest
import yaml
from cli_support import require_helm, run

pytestmark = pytest.mark.helm


@pytest.fixture(autouse=True)
def _helm() -> None:
    require_helm()




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
