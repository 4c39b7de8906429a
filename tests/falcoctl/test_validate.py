"""Manifest checks: official schemas per version (cached validators), every error listed, CRDs not passed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from falcoctl_py.errors import UsageError
from falcoctl_py.validate import check_manifests, own_checks, schema_version


def daemonset() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "e", "namespace": "n"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "image": "i:1",
                            "imagePullPolicy": "Always",
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "64Mi"},
                                "limits": {"cpu": "1", "memory": "128Mi"},
                            },
                        }
                    ]
                },
            },
        },
    }


def test_valid_manifest_passes_for_130_and_135() -> None:
    for version in ("1.30", "1.35"):
        report = check_manifests([daemonset()], kube_version=version)
        assert report.ok and report.passed == ["DaemonSet/e"], report.errors


def test_every_error_listed_with_kind_name_path() -> None:
    doc = daemonset()
    pod = doc["spec"]["template"]["spec"]
    pod["hostNetwork"] = "yes"
    pod["containers"][0]["bogus"] = 1
    pod["containers"][0]["imagePullPolicy"] = "Sometimes"
    pod["containers"][0]["resources"]["limits"]["memory"] = "lots"
    report = check_manifests([doc], kube_version="1.35")
    text = [str(p) for p in report.errors]
    assert not report.ok and report.passed == []
    assert any(t.startswith("DaemonSet/e .spec.template.spec.hostNetwork:") for t in text)
    assert any(".containers[0]:" in t and "bogus" in t for t in text)
    assert any(".containers[0].imagePullPolicy: 'Sometimes'" in t for t in text)
    assert any(".resources.limits.memory: not a Kubernetes quantity" in t for t in text)


def test_request_above_limit_flagged() -> None:
    doc = daemonset()
    doc["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "2"
    assert any("cpu request exceeds its limit" in p.message for p in own_checks(doc))


def test_crd_kinds_reported_not_passed() -> None:
    sm = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m"},
        "spec": {},
    }
    report = check_manifests([sm, daemonset()], kube_version="1.30")
    assert report.passed == ["DaemonSet/e"]
    assert report.not_checked and report.not_checked[0][0] == "ServiceMonitor/m"
    assert "1 not schema-checked" in report.summary()


def test_api_removed_in_version_is_not_passed() -> None:
    doc = copy.deepcopy(daemonset())
    doc["apiVersion"] = "extensions/v1beta1"
    report = check_manifests([doc], kube_version="1.30")
    assert report.passed == [] and report.not_checked


def test_networkpolicy_policy_types_checked() -> None:
    np = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Sideways"]},
    }
    report = check_manifests([np], kube_version="1.35")
    assert any(".spec.policyTypes[1]" in str(p) for p in report.errors)


def test_schema_version_selection() -> None:
    assert schema_version("1.30.7") == "1.30.0"
    assert schema_version("v1.35") == "1.35.0"
    with pytest.raises(UsageError, match="no Kubernetes schemas for 1.99"):
        schema_version("1.99")
    with pytest.raises(UsageError, match="no Kubernetes schemas for 1.20"):
        schema_version("1.20")


@pytest.mark.parametrize(
    "key,value,ok",
    [
        ("app.kubernetes.io/name", "falco-py", True),
        ("team", "", True),
        ("team", "a" * 64, False),
        ("team", "bad value", False),
        ("Bad_Prefix.io/x", "v", False),
        ("example.com/-x", "v", False),
        ("version", 1, False),
    ],
)
def test_label_syntax(key: str, value: object, ok: bool) -> None:
    doc = daemonset()
    doc["spec"]["template"]["metadata"]["labels"][key] = value
    problems = [p for p in own_checks(doc) if p.path == ".spec.template.metadata.labels"]
    assert (not problems) is ok, problems
