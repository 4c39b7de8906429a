"""``falcoctl-py size``: every registered format, JSON and HTML for the large profile, clear errors."""

from __future__ import annotations

import json
import re

import pytest
from cli_support import run


def test_large_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "size", "--profile", "large", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    pools = {p["name"]: p for p in doc["pools"]}
    assert set(pools) == {"system", "general", "highmem", "webhook"}
    assert re.fullmatch(r"\d+m|\d+", pools["highmem"]["requests"]["cpu"])
    assert isinstance(pools["highmem"]["requests"]["cpu_millicores"], int)
    assert pools["highmem"]["limits"]["memory"].endswith(("Mi", "Gi"))


def test_large_html(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "size", "--profile", "large", "-o", "html")
    assert (
        code == 0
        and "<svg" in out
        and "highmem" in out
        and "http://" not in out.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )


@pytest.mark.parametrize("fmt", ["table", "yaml", "csv", "markdown"])
def test_other_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, err = run(capsys, "size", "--profile", "medium", "-o", fmt)
    assert code == 0, err
    assert "compute" in out


def test_unknown_format_and_missing_cluster_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "size", "-o", "pdf")
    assert code == 2 and "unknown output format 'pdf'" in err
    import sys

    monkeypatch.setitem(sys.modules, "falcoctl_py.k8s", None)  # the cluster module absent
    code, _, err = run(capsys, "size", "--context", "kind-x")
    assert code == 3 and "falcoctl_py.k8s.cluster_facts" in err and err.count("\n") == 1


def test_context_uses_cluster_pools(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    seen = {}

    def cluster_facts(*, context: str, kubeconfig: str | None) -> dict:
        seen["context"] = context
        return {
            "pools": [
                {
                    "name": "pool-a",
                    "cpu": 48,
                    "memory": "192Gi",
                    "pods_per_node": 100,
                    "count": 7,
                    "labels": {"pool": "a"},
                }
            ]
        }

    fake = types.ModuleType("falcoctl_py.k8s")
    fake.cluster_facts = cluster_facts  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "falcoctl_py.k8s", fake)
    code, out, err = run(capsys, "size", "--context", "kind-x", "--profile", "medium", "-o", "json")
    assert code == 0, err
    assert seen["context"] == "kind-x"
    names = [p["name"] for p in json.loads(out)["pools"]]
    assert names == ["pool-a", "webhook"]


def test_strategy_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "size", "--profile", "medium", "--strategy", "guaranteed", "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["strategy"]["name"] == "guaranteed"
    for pool in doc["pools"]:
        assert pool["requests"]["cpu_millicores"] == pool["limits"]["cpu_millicores"]
    code, _, err = run(capsys, "size", "--strategy", "nope")
    assert code == 2 and "unknown sizing strategy 'nope'" in err
