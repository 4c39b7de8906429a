"""Render every profile and ci/ values file through ``falcoctl-py template`` and check what lands in a cluster."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartutil import CHART, CI_VALUES, KUBE_VERSIONS, PROFILES, by_kind, ci_id, docs_of, pod_spec

from falcoctl_py.errors import HelmError
from falcoctl_py.helm import Helm
from falcoctl_py.render import render
from falcoctl_py.values import build_values

pytestmark = pytest.mark.helm
RunCli = Callable[..., tuple[int, str, str]]


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_renders_and_passes_schemas(
    helm: Helm, run_cli: RunCli, profile: str, kube_version: str
) -> None:
    code, out, err = run_cli("template", "--profile", profile, "--kube-version", kube_version)
    assert code == 0, err
    docs = docs_of(out)
    assert by_kind(docs, "DaemonSet"), "no DaemonSet rendered"
    assert f"Kubernetes {kube_version}.0: {len(docs)} passed, 0 error(s), 0 not schema-checked" in err


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_file", CI_VALUES, ids=ci_id)
def test_every_ci_values_file_renders_and_passes_schemas(
    helm: Helm, run_cli: RunCli, values_file: Path, kube_version: str
) -> None:
    code, out, err = run_cli("template", "-f", str(values_file), "--kube-version", kube_version)
    assert code == 0, err
    docs = docs_of(out)
    crds = [d for d in docs if d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert f"{len(docs) - len(crds)} passed, 0 error(s), {len(crds)} not schema-checked" in err
    for d in crds:  # reported, never counted as passed
        assert f"not schema-checked: {d['kind']}/{d['metadata']['name']}" in err


@pytest.fixture(scope="module")
def default_docs() -> list[dict[str, Any]]:
    from falcoctl_py.values import chart_defaults

    return render(chart_defaults(), kube_version="1.30")


def _containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in docs:
        if d["kind"] in ("DaemonSet", "Deployment"):
            spec = pod_spec(d)
            out += spec.get("initContainers", []) + spec["containers"]
    return out


def test_default_render_least_privilege(default_docs: list[dict[str, Any]]) -> None:
    (ds,) = by_kind(default_docs, "DaemonSet")
    spec = pod_spec(ds)
    assert spec["hostNetwork"] is False and spec["hostPID"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in _containers(default_docs):
        sc = c["securityContext"]
        assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"]
        assert set(c["resources"]["requests"]) == {"cpu", "memory"}
        assert set(c["resources"]["limits"]) == {"cpu", "memory"}
    mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["/host/proc"]["readOnly"] and mounts["/host/sys/fs/cgroup"]["readOnly"]


def test_default_daemonset_runs_engine_on_linux_nodes_tolerating_all(
    default_docs: list[dict[str, Any]],
) -> None:
    (ds,) = by_kind(default_docs, "DaemonSet")
    spec = pod_spec(ds)
    c = spec["containers"][0]
    assert c["command"] + c["args"] == [
        "falcoctl-py",
        "engine",
        "run",
        "--config",
        "/etc/falco-py/config.yaml",
    ]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"
    assert {"name": "http-metrics", "containerPort": 8765, "protocol": "TCP"} in c["ports"]
    assert spec["tolerations"] == [{"operator": "Exists"}]
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    exprs = {e["key"]: e for e in term["matchExpressions"]}
    assert exprs["kubernetes.io/os"] == {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}
    assert exprs["type"]["operator"] == "NotIn" and "virtual-kubelet" in exprs["type"]["values"]
    assert ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"] == "10%"
    assert spec["priorityClassName"] == by_kind(default_docs, "PriorityClass")[0]["metadata"]["name"]


def test_default_networkpolicy_restricts_both_directions(default_docs: list[dict[str, Any]]) -> None:
    (np,) = by_kind(default_docs, "NetworkPolicy")
    spec = np["spec"]
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = spec["ingress"]  # webhook off: only the metrics port
    assert ingress["ports"] == [{"port": 8765, "protocol": "TCP"}]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in ingress[
        "from"
    ]
    peers = [p for p in ingress["from"] if "ipBlock" in p]
    assert peers == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    dns, api = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53} and {p["protocol"] for p in dns["ports"]} == {
        "UDP",
        "TCP",
    }
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
    assert {p["port"] for p in api["ports"]} == {443, 6443}
    for rule in spec["egress"] + spec["ingress"]:  # no open-ended peer anywhere
        assert rule.get("to", rule.get("from")), rule
        for peer in rule.get("to", rule.get("from")):
            assert peer.get("ipBlock", {}).get("cidr") != "0.0.0.0/0"


def test_sinks_and_webhook_open_only_their_ports(run_cli: RunCli) -> None:
    code, out, err = run_cli(
        "netpol",
        "-f",
        str(CHART / "ci" / "sinks-values.yaml"),
        "-f",
        str(CHART / "ci" / "webhook-existing-secret-values.yaml"),
    )
    assert code == 0, err
    (np,) = docs_of(out)
    ingress = np["spec"]["ingress"]
    webhook = [r for r in ingress if r["ports"] == [{"port": 9765, "protocol": "TCP"}]]
    assert webhook and all("ipBlock" in p for p in webhook[0]["from"])
    assert {p["ipBlock"]["cidr"] for p in webhook[0]["from"]} == {"172.18.0.2/32", "172.18.0.3/32"}
    sink = [r for r in np["spec"]["egress"] if r["ports"] == [{"port": 8443, "protocol": "TCP"}]]
    assert sink and sink[0]["to"] == [{"ipBlock": {"cidr": "10.20.30.0/24"}}]


def test_rbac_is_read_only(default_docs: list[dict[str, Any]]) -> None:
    (role,) = by_kind(default_docs, "ClusterRole")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
        assert set(rule["resources"]) <= {"pods", "namespaces", "nodes"}
        assert rule["apiGroups"] == [""]
    assert not by_kind(default_docs, "Role")


def test_labels_and_minimal_selectors(default_docs: list[dict[str, Any]]) -> None:
    for d in default_docs:
        labels = d["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "falco-py"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    (ds,) = by_kind(default_docs, "DaemonSet")
    sel = ds["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/version" not in sel and "helm.sh/chart" not in sel
    assert sel.items() <= ds["spec"]["template"]["metadata"]["labels"].items()


def _pod_templates(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]
        for d in docs
        if d["kind"] in ("DaemonSet", "Deployment")
    }


def test_rules_only_change_rolls_no_pod_but_config_change_does(helm: Helm) -> None:
    base = build_values(profile="medium")
    rules = copy.deepcopy(base)
    rules["rules"]["files"] = {"extra.yaml": "- list: shells\n  items: [bash]\n"}
    first, second = render(base), render(rules)
    assert _pod_templates(first) == _pod_templates(second)
    assert by_kind(first, "ConfigMap")[1] != by_kind(second, "ConfigMap")[1]
    config = copy.deepcopy(base)
    config["engine"]["priorityThreshold"] = "warning"
    third = render(config)
    for key, tmpl in _pod_templates(third).items():
        assert (
            tmpl["metadata"]["annotations"]["checksum/config"]
            != _pod_templates(first)[key]["metadata"]["annotations"]["checksum/config"]
        )


def _pool(name: str, exprs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "selector": {"matchExpressions": exprs},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
    }


@pytest.mark.parametrize(
    "a,b",
    [
        (
            [{"key": "pool", "operator": "In", "values": ["x", "y"]}],
            [{"key": "pool", "operator": "In", "values": ["y"]}],
        ),
        ([{"key": "gpu", "operator": "Exists"}], [{"key": "arch", "operator": "In", "values": ["arm64"]}]),
        (
            [{"key": "pool", "operator": "NotIn", "values": ["x"]}],
            [{"key": "pool", "operator": "In", "values": ["y"]}],
        ),
    ],
)
def test_overlapping_pools_are_refused(helm: Helm, a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    values = build_values(profile="small")
    values["nodePools"]["pools"] = [_pool("a", a), _pool("b", b)]
    with pytest.raises(HelmError, match='pools "a" and "b" have overlapping node selectors'):
        render(values)


def test_disjoint_pools_get_own_daemonsets_and_default_excludes_them(helm: Helm) -> None:
    values = build_values(profile="small")
    values["nodePools"]["pools"] = [
        _pool("a", [{"key": "pool", "operator": "In", "values": ["x"]}]),
        _pool(
            "b", [{"key": "pool", "operator": "NotIn", "values": ["x"]}, {"key": "gpu", "operator": "Exists"}]
        ),
    ]
    docs = render(values)
    names = {d["metadata"]["name"] for d in by_kind(docs, "DaemonSet")}
    assert names == {"falco-py", "falco-py-a", "falco-py-b"}
    selectors = [
        tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in by_kind(docs, "DaemonSet")
    ]
    assert len(set(selectors)) == 3  # controllers never share pods
    default = next(d for d in by_kind(docs, "DaemonSet") if d["metadata"]["name"] == "falco-py")
    terms = pod_spec(default)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]

    def matches(labels: dict[str, str]) -> bool:
        def ok(e: dict[str, Any]) -> bool:
            k, op = e["key"], e["operator"]
            return {
                "In": k in labels and labels[k] in e.get("values", []),
                "NotIn": k not in labels or labels[k] not in e.get("values", []),
                "Exists": k in labels,
                "DoesNotExist": k not in labels,
            }[op]

        return any(all(ok(e) for e in t["matchExpressions"]) for t in terms)

    linux = {"kubernetes.io/os": "linux"}
    assert matches(linux)
    assert not matches({**linux, "pool": "x"})  # pool a
    assert not matches({**linux, "pool": "z", "gpu": "1"})  # pool b
    assert matches({**linux, "pool": "z"})  # in neither
    assert matches({**linux, "pool": "x", "gpu": "1"}) is False


@pytest.mark.parametrize(
    "ci_file,host_network,host_pid,caps",
    [
        ("syscall-ebpf-values.yaml", False, False, ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE"]),
        ("syscall-proc-values.yaml", True, False, ["NET_ADMIN"]),
        ("syscall-audit-values.yaml", False, True, ["AUDIT_CONTROL"]),
        ("syscall-audit-multicast-values.yaml", True, False, ["AUDIT_READ"]),
        ("syscall-extra-caps-values.yaml", True, False, ["NET_ADMIN", "SYS_PTRACE"]),
    ],
)
def test_backend_selects_host_namespaces_and_named_capabilities(
    helm: Helm, ci_file: str, host_network: bool, host_pid: bool, caps: list[str]
) -> None:
    values = build_values(profile="small", values_files=[CHART / "ci" / ci_file])
    (ds,) = by_kind(render(values), "DaemonSet")
    spec = pod_spec(ds)
    assert spec["hostNetwork"] is host_network and spec["hostPID"] is host_pid
    sc = spec["containers"][0]["securityContext"]
    assert sc["capabilities"] == {"drop": ["ALL"], "add": caps} and sc["privileged"] is False
    if host_network:
        assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"


def test_webhook_shares_pod_template_and_has_pdb(helm: Helm) -> None:
    values = build_values(profile="medium")
    docs = render(values)
    (dep,) = by_kind(docs, "Deployment")
    (ds,) = [d for d in by_kind(docs, "DaemonSet") if d["metadata"]["name"] == "falco-py"]
    wspec, nspec = pod_spec(dep), pod_spec(ds)
    assert wspec["containers"][0]["args"] == nspec["containers"][0]["args"]
    assert wspec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert wspec["automountServiceAccountToken"] is False and nspec["automountServiceAccountToken"] is True
    assert {"name": "https-webhook", "containerPort": 9765, "protocol": "TCP"} in wspec["containers"][0][
        "ports"
    ]
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    (svc,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-webhook")]
    assert svc["spec"]["ports"][0]["port"] == 9765


def test_typo_refused_by_helm_schema(helm: Helm, tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(yaml.safe_dump({"daemonset": {"maxUnavailabel": 2}}))
    with pytest.raises(HelmError, match="maxUnavailabel"):
        helm.template(CHART, yaml.safe_load(bad.read_text()), release="r", namespace="n")
    with pytest.raises(HelmError, match="pullPolicy"):
        helm.template(CHART, {"image": {"pullPolicy": "Sometimes"}}, release="r", namespace="n")


def test_webhook_without_secrets_fails_with_reason(helm: Helm) -> None:
    with pytest.raises(HelmError, match="tls.existingSecret or both tls.cert and tls.key"):
        helm.template(CHART, {"k8sAudit": {"webhook": {"enabled": True}}}, release="r", namespace="n")


def test_engine_config_per_role(helm: Helm) -> None:
    values = build_values(
        profile="small",
        values_files=[
            CHART / "ci" / f
            for f in (
                "syscall-audit-values.yaml",
                "webhook-existing-secret-values.yaml",
                "logfile-values.yaml",
                "sinks-values.yaml",
            )
        ],
    )
    docs = render(values)
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    node, webhook, auditlog = (
        yaml.safe_load(cm["data"][f"engine-{r}.yaml"]) for r in ("node", "webhook", "auditlog")
    )
    assert node["sources"] == {"syscall": {
        "backend": "audit", "audit": {"mode": "unicast"}, "host_root": "/host",
        "container_state_roots": ["/host/run/containerd/io.containerd.runtime.v2.task"]}}
    assert (
        set(webhook["sources"]) == {"k8s_audit"}
        and webhook["sources"]["k8s_audit"]["webhook"]["path"] == "/k8s-audit"
    )
    assert auditlog["sources"]["k8s_audit"]["file"]["path"] == "/var/log/kube-apiserver/audit.log"
    assert node["metrics"]["listen"].endswith(":8765")
    assert node["outputs"]["http"] == {
        "url": "https://siem.example.internal:8443/falco",
        "token_file": "/etc/falco-py-sink/token",
    }
    assert node["outputs"]["stdout"]["enabled"] is False
    assert node["rules"] == ["/opt/falco-py/share/default-rules", "/etc/falco-py-rules.d"]
    ds = next(d for d in docs if d["metadata"]["name"] == "falco-py" and d["kind"] == "DaemonSet")
    sink = next(v for v in pod_spec(ds)["volumes"] if v["name"] == "sink-token")
    assert sink["secret"] == {"secretName": "siem-token", "items": [{"key": "token", "path": "token"}]}
    # each pod mounts its own role's key as config.yaml
    keys = {
        d["metadata"]["name"]: next(
            v["configMap"]["items"][0]["key"] for v in pod_spec(d)["volumes"] if v["name"] == "config"
        )
        for d in docs
        if d["kind"] in ("DaemonSet", "Deployment")
    }
    assert keys == {
        "falco-py": "engine-node.yaml",
        "falco-py-control-plane": "engine-auditlog.yaml",
        "falco-py-webhook": "engine-webhook.yaml",
    }


def test_duplicate_pool_names_refused(helm: Helm) -> None:
    values = build_values(profile="small")
    values["nodePools"]["pools"] = [
        _pool("a", [{"key": "p", "operator": "In", "values": ["1"]}]),
        _pool("a", [{"key": "p", "operator": "In", "values": ["2"]}]),
    ]
    with pytest.raises(HelmError, match='pool name "a" used twice'):
        render(values)


def test_install_dry_run_client_renders_notes(helm: Helm) -> None:
    out = helm.install_dry_run_client(
        CHART, build_values(profile="medium"), release="sec", namespace="security"
    )
    assert "NOTES:" in out and "https://sec-falco-py-webhook.security.svc:9765/k8s-audit" in out
    assert "kind: DaemonSet" in out
    assert "falcoctl-py engine audit-rules" not in out  # the medium profile reads syscalls with ebpf
    multicast = build_values(profile="small", values_files=[CHART / "ci" / "syscall-audit-multicast-values.yaml"])
    out = helm.install_dry_run_client(CHART, multicast, release="sec", namespace="security")
    assert "Install those rules on every node (`falcoctl-py engine audit-rules" in out


def test_packaged_chart_and_profiles_resolve_inside_the_package() -> None:
    from falcoctl_py import resources

    pkg = Path(resources.__file__).resolve().parent
    assert (pkg / "data" / "charts" / "falco-py" / "Chart.yaml").is_file()
    assert (pkg / "data" / "profiles" / "large.yaml").is_file()
    assert resources.chart_dir() == CHART


def test_prometheus_rules_cover_drops_reload_failures_and_engine_down(helm: Helm) -> None:
    values = build_values(profile="small", values_files=[CHART / "ci" / "monitoring-values.yaml"])
    docs = render(values)
    (rule,) = by_kind(docs, "PrometheusRule")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {"FalcoPyEventsDropped", "FalcoPyRulesReloadFailed", "FalcoPyEngineDown"}
    assert "falcopy_drops_total" in alerts["FalcoPyEventsDropped"]  # the name the tuning collector reads
    (sm,) = by_kind(docs, "ServiceMonitor")
    (svc,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics")]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]


def test_extra_capabilities_are_a_closed_list(helm: Helm) -> None:
    with pytest.raises(HelmError, match="extraCapabilities"):
        helm.template(
            CHART,
            {"syscall": {"backend": "proc", "extraCapabilities": ["SYS_ADMIN"]}},
            release="r",
            namespace="n",
        )
    values = build_values(profile="small", sets=["syscall.extraCapabilities={SYS_PTRACE}"])
    (ds,) = by_kind(render(values), "DaemonSet")  # no backend: no capability at all
    assert "add" not in pod_spec(ds)["containers"][0]["securityContext"]["capabilities"]


@pytest.mark.parametrize("values_file", CI_VALUES, ids=ci_id)
def test_engine_config_passes_the_engines_own_schema(helm: Helm, values_file: Path) -> None:
    config_mod = pytest.importorskip("engine.config")
    docs = render(build_values(profile="small", values_files=[values_file]))
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-config")]
    for key, text in cm["data"].items():
        try:
            config_mod.validate_config(yaml.safe_load(text), file=key)
        except config_mod.ConfigError as exc:
            pytest.fail(f"{values_file.name}: {exc}")


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_engine_configs_pass_the_engines_own_schema(helm: Helm, profile: str) -> None:
    config_mod = pytest.importorskip("engine.config")
    (cm,) = [
        d
        for d in by_kind(render(build_values(profile=profile)), "ConfigMap")
        if d["metadata"]["name"].endswith("-config")
    ]
    for key, text in cm["data"].items():
        config_mod.validate_config(yaml.safe_load(text), file=key)


def test_cluster_pools_with_mixed_label_keys_render(helm: Helm) -> None:
    cluster = {
        "pool_label_order": ["eks.amazonaws.com/nodegroup", "node.kubernetes.io/instance-type"],
        "pools": [
            {
                "name": "ng",
                "cpu": 8,
                "memory": "32Gi",
                "pods_per_node": 58,
                "count": 3,
                "labels": {"eks.amazonaws.com/nodegroup": "ng"},
            },
            {
                "name": "m5",
                "cpu": 2,
                "memory": "8Gi",
                "pods_per_node": 29,
                "count": 2,
                "labels": {"node.kubernetes.io/instance-type": "m5.large"},
            },
        ],
    }
    docs = render(build_values(profile="medium", cluster=cluster))  # no overlap failure
    m5 = next(d for d in by_kind(docs, "DaemonSet") if d["metadata"]["name"] == "falco-py-m5")
    (term,) = pod_spec(m5)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert {"key": "eks.amazonaws.com/nodegroup", "operator": "DoesNotExist"} in term["matchExpressions"]
