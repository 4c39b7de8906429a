"""upgrade --rules against kmock: loader validation, required_engine_version vs the deployed engine, ConfigMap
replaced with no DaemonSet change, reload confirmed per pod from canned pod-proxy metrics."""

from __future__ import annotations

import hashlib

import pytest

from falcoctl_py.deploy import rules_upgrade
from falcoctl_py.deploy.steps import Target
from falcoctl_py.errors import ClusterError, FindingsError
from tests.kmock_support import api, daemonset, in_thread, metrics_body, pod  # noqa: F401

NS, REL = "falco-py", "falco-py"
RULES = """\
- required_engine_version: {req}
- rule: Shell spawned
  desc: a shell started
  condition: evt.type = execve and proc.name = bash
  output: shell started (proc=%proc.name)
  priority: WARNING
"""
LABELS = {"app.kubernetes.io/instance": REL}


def seed_release(api, *, engine_version: str = "0.57.0", stuck: frozenset[str] = frozenset()) -> dict:  # noqa: F811
    api.seed(
        "v1/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "data": {"old.yaml": "[]\n"},
            "metadata": {"name": f"{REL}-rules", "namespace": NS, "labels": LABELS},
        },
    )
    api.seed(
        "v1/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "data": {"engine-node.yaml": "default_rules: false\nrules: [/etc/r]\n"},
            "metadata": {"name": f"{REL}-config", "namespace": NS, "labels": LABELS},
        },
    )
    ds = daemonset(REL, NS, generation=3)
    api.seed("apps/v1/daemonsets", ds)
    sel = ds["spec"]["selector"]["matchLabels"]
    state = {"served": {}}
    for name in ("falco-py-a", "falco-py-b"):
        api.seed("v1/pods", pod(name, NS, labels=sel, node_name=f"node-{name[-1]}"))

        def serve(req, name=name):
            # a pod reports the checksum of whatever the ConfigMap holds now (as a hot reload would)
            data = api.get("v1/configmaps", NS, f"{REL}-rules")["data"]
            content = "".join(data[k] for k in sorted(k for k in data if data[k] is not None))
            state["served"][name] = (
                "0" * 64 if name in stuck else hashlib.sha256(content.encode()).hexdigest()
            )
            return metrics_body(checksum=state["served"][name], engine_version=engine_version)

        api.mock[f"get /api/v1/namespaces/{NS}/pods/{name}:8765/proxy/metrics"] << serve
    return state


async def test_rules_replace_configmap_and_every_pod_confirms(api, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "custom.yaml"
    f.write_text(RULES.format(req="0.26.0"))
    said: list[str] = []
    result = await in_thread(
        rules_upgrade.upgrade_rules, api.kube(), Target(REL, NS), [f], timeout=10, say=said.append
    )
    assert result.checksum == hashlib.sha256(f.read_text().encode()).hexdigest()
    assert sorted(result.confirmed) == ["falco-py-a", "falco-py-b"]
    cm = api.get("v1/configmaps", NS, f"{REL}-rules")
    assert cm["data"]["custom.yaml"] == f.read_text() and cm["data"].get("old.yaml") is None
    assert api.mutations() == [
        f"PATCH /api/v1/namespaces/{NS}/configmaps/{REL}-rules"
    ]  # no DaemonSet touched
    assert api.get("apps/v1/daemonsets", NS, REL)["metadata"]["generation"] == 3
    assert result.previous_files == ["old.yaml"]


async def test_required_engine_version_newer_than_deployed_is_refused(api, tmp_path):  # noqa: F811
    seed_release(api, engine_version="0.40.0")
    f = tmp_path / "custom.yaml"
    f.write_text(RULES.format(req="0.41.0"))
    with pytest.raises(
        FindingsError,
        match=r"custom.yaml: required_engine_version 0.41.0 is newer than engine "
        r"0.40.0 on pod falco-py-a",
    ):
        await in_thread(rules_upgrade.upgrade_rules, api.kube(), Target(REL, NS), [f], timeout=5)
    assert api.mutations() == []


async def test_invalid_rules_rejected_before_any_change(api, tmp_path):  # noqa: F811
    seed_release(api)
    f = tmp_path / "bad.yaml"
    f.write_text(RULES.format(req="0.26.0").replace("proc.name = bash", "proc.nam = bash"))
    with pytest.raises(FindingsError, match="nonexistent field proc.nam"):
        await in_thread(rules_upgrade.upgrade_rules, api.kube(), Target(REL, NS), [f], timeout=5)
    assert api.mutations() == []


async def test_pod_that_never_reloads_times_out_naming_it(api, tmp_path, monkeypatch):  # noqa: F811
    seed_release(api, stuck=frozenset({"falco-py-b"}))
    monkeypatch.setattr(rules_upgrade, "POLL_S", 0.2)
    f = tmp_path / "custom.yaml"
    f.write_text(RULES.format(req="0.26.0"))
    with pytest.raises(ClusterError, match=r"rules not reloaded after 1s on: falco-py-b \(000000000000\)"):
        await in_thread(rules_upgrade.upgrade_rules, api.kube(), Target(REL, NS), [f], timeout=1)


def test_version_forms():
    assert rules_upgrade.version_tuple("15") == (0, 15, 0)
    assert rules_upgrade.version_tuple("v0.57.1-rc1") == (0, 57, 1)
    with pytest.raises(FindingsError):
        rules_upgrade.version_tuple("latest")


def test_rules_validated_before_the_cluster_with_file_line_col(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(RULES.format(req="0.26.0").replace("proc.name = bash", "proc.name = bash and ("))
    with pytest.raises(FindingsError, match=rf"^{f}:4:14: rules rejected by the engine's loader: ") as err:
        rules_upgrade.validate_rules([f])
    assert err.value.exit_code == 1 and "\n" not in str(err.value)


def test_rules_using_a_default_macro_pass_validation(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(
        "- rule: done\n  desc: d\n  condition: fpy_audit_done and ka.verb = create\n"
        "  output: o %ka.verb\n  priority: WARNING\n  source: k8s_audit\n"
    )
    assert rules_upgrade.validate_rules([f]) == {"mine.yaml": f.read_text()}
