"""In-cluster tuning against the kmock API emulator: engine pods found by label, metrics scraped through the
pod proxy once a second, alerts read from pod logs, node shapes from Node objects."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson

from falcoctl_py.tuning.analysis import Options
from falcoctl_py.tuning.cluster import run_cluster
from tests.kmock_support import api, in_thread, node, pod  # noqa: F401

RULES = (Path(__file__).resolve().parents[3] / "engine" / "default_rules" / "falco_py_rules.yaml",)
LABELS = {"app.kubernetes.io/instance": "falco-py", "app.kubernetes.io/name": "falco-py"}


def metrics_route(cpu_per_scrape: float, events_per_scrape: float) -> Any:
    counter = itertools.count(1)

    def handler(request: Any) -> bytes:
        n = next(counter)
        return (
            "# TYPE falcopy_cpu_seconds_total counter\n"
            f"falcopy_cpu_seconds_total {n * cpu_per_scrape}\n"
            "# TYPE falcopy_rss_bytes gauge\nfalcopy_rss_bytes 62914560\n"
            "# TYPE falcopy_events_total counter\n"
            f'falcopy_events_total{{source="syscall"}} {n * events_per_scrape}\n'
            "# TYPE falcopy_build_info gauge\n"
            'falcopy_build_info{version="0.1.0",engine_version="0.57.0",rules_checksum="abc"} 1\n'
            "# TYPE falcopy_rule_workload_matches counter\n"
            'falcopy_rule_workload_matches_total{rule="FPY Shadow File Read By Unexpected Program",'
            f'source="syscall",namespace="backup",workload="backup-agent"}} {n * 10}\n'
        ).encode()

    return handler


def alert_log(n: int) -> str:
    lines = [b'{"level":"info","msg":"engine serving"}']
    for i in range(n):
        lines.append(orjson.dumps({
            "rule": "FPY Shadow File Read By Unexpected Program", "priority": "Warning", "source": "syscall",
            "output": "...", "time": "2026-11-29T00:00:00.000000000Z", "hostname": "n1", "tags": [],
            "output_fields": {"proc.name": "backup-agent", "proc.pname": "cron",
                              "container.image.repository": "registry.example.com/acme/backup-agent",
                              "user.name": "root", "proc.cmdline": f"backup-agent --n {i}"}}))
    return (b"\n".join(lines) + b"\n").decode()


async def test_cluster_window_scrapes_every_pod_through_the_proxy(api: Any, tmp_path: Path) -> None:  # noqa: F811
    api.seed("v1/nodes", node("n1", labels={"cloud.google.com/gke-nodepool": "general"}, cpu="4", memory="16Gi"))
    api.seed("v1/nodes", node("n2", labels={"cloud.google.com/gke-nodepool": "compute"}, cpu="32",
                              memory="128Gi"))
    for name, node_name, pool in (("falco-py-a", "n1", "general"), ("falco-py-b", "n2", "compute")):
        api.seed("v1/pods", pod(name, "falco-py", labels={**LABELS, "falco-py.dev/pool": pool},
                                node_name=node_name))
        api.mock[f"get /api/v1/namespaces/falco-py/pods/{name}:8765/proxy/metrics"] << metrics_route(
            0.5 if node_name == "n1" else 0.05, 1000)
    api.mock["get /api/v1/namespaces/falco-py/pods/falco-py-a/log"] << alert_log(200)
    api.mock["get /api/v1/namespaces/falco-py/pods/falco-py-b/log"] << alert_log(0)

    doc = await in_thread(run_cluster, Options(rules=RULES, profile="small"), out_dir=tmp_path / "out",
                          duration=2.5, context=None, kubeconfig=api.kubeconfig, namespace="falco-py",
                          apply=False, max_iterations=1)

    scrapes = api.requests_to(":8765/proxy/metrics")
    assert len([r for r in scrapes if "falco-py-a" in r.url.path]) >= 3
    assert len([r for r in scrapes if "falco-py-b" in r.url.path]) >= 3
    nodes = {n["node"]: n for n in doc["overhead"]["nodes"]}
    assert nodes["n1"]["pool"] == "general" and nodes["n2"]["pool"] == "compute"
    # n1: 0.5 CPU-s per ~1 s scrape on a 4-CPU node is far over 2%; n2: 0.05 on 32 CPUs is within budget
    assert not nodes["n1"]["within_budget"] and nodes["n2"]["within_budget"]
    assert doc["overhead"]["pools"]["general"]["within_budget"] is False
    (rule,) = doc["noise"]["rules"]
    assert rule["count"] == 200
    (prop,) = [p for p in doc["proposals"] if p["accepted"]]
    # anchored on the image (an identity), narrowed by every identity field that holds one value
    assert prop["fields"][0] == "container.image.repository"
    assert {"proc.pname", "proc.name", "user.name"} <= set(prop["fields"])
    assert doc["verification"]["alerts_after"] == 0
    assert (tmp_path / "out" / "report.html").exists()
    # the per-workload counter, scraped through the proxy, says who makes the noise (both pods report it)
    (top,) = doc["noise"]["workloads"]
    assert (top["namespace"], top["workload"]) == ("backup", "backup-agent") and top["count"] >= 40


async def test_resources_go_through_the_engine_upgrade_path(api: Any, tmp_path: Path) -> None:  # noqa: F811
    import json

    from falcoctl_py.errors import ClusterError
    from falcoctl_py.tuning.cluster import apply_resources
    from tests.falcoctl.deploy.fake_helm import FakeHelm
    from tests.kmock_support import dns_service, endpoint_slice

    api.seed("v1/nodes", node("n1", labels={"eks.amazonaws.com/nodegroup": "general"}, cpu="8", memory="32Gi"))
    api.seed("discovery.k8s.io/v1/endpointslices", endpoint_slice(["172.18.0.2"]))
    api.seed("v1/services", dns_service())
    base = json.loads((Path(__file__).resolve().parents[3] / "falcoctl_py" / "data" / "cost-model.default.json")
                      .read_text())
    pushed: dict[str, dict[str, Any]] = {}

    for name, cost in (("cheap", 0.001), ("costly", 2.0)):
        doc = json.loads(json.dumps(base))
        for entry in doc["cpu_seconds_per_1k_events"].values():
            entry.update(value=cost, estimate=False)
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))

        def upgrade(argv: list[str], name: str = name) -> None:  # what helm received, read while it exists
            pushed[name] = json.loads(Path(argv[argv.index("--values") + 1]).read_text())

        helm = FakeHelm(on_upgrade=upgrade)
        try:
            await in_thread(apply_resources, api.kube(), helm, namespace="falco-py", release="falco-py",
                            context=None, kubeconfig=api.kubeconfig, profile="medium",
                            cost_model=tmp_path / f"{name}.json", timeout=1)
        except ClusterError:
            pass  # nothing rolls out in the emulator after a fake helm; the upgrade itself is what is checked
        argv = next(c for c in helm.calls if c[:2] == ["upgrade", "--install"])
        assert "--rollback-on-failure" in argv and "--wait=watcher" in argv
    def cpu_requests(values: dict[str, Any]) -> list[str]:
        return [p["resources"]["requests"]["cpu"] for p in values["nodePools"]["pools"]]

    # the measured cost model reached the per-pool resources helm was given (cluster pools: one, "general")
    assert cpu_requests(pushed["cheap"]) != cpu_requests(pushed["costly"])
    assert [p["name"] for p in pushed["costly"]["nodePools"]["pools"]] == ["general"]


async def test_a_resize_says_why_it_skips_the_image_check_and_keeps_the_running_digest(
        api: Any, tmp_path: Path) -> None:  # noqa: F811
    """The re-size never asks the registry; its message names that reason (the user passed no --no-image-check)
    and the digest the release was pinned to at install stays in the values helm gets."""
    from falcoctl_py.errors import ClusterError
    from falcoctl_py.tuning.cluster import RESIZE_KEEPS_IMAGE, apply_resources
    from falcoctl_py.values import build_values
    from tests.falcoctl.deploy.fake_helm import FakeHelm
    from tests.kmock_support import dns_service, endpoint_slice

    api.seed("v1/nodes", node("n1", labels={"eks.amazonaws.com/nodegroup": "general"}, cpu="8", memory="32Gi"))
    api.seed("discovery.k8s.io/v1/endpointslices", endpoint_slice(["172.18.0.2"]))
    api.seed("v1/services", dns_service())
    cost_model = Path(__file__).resolve().parents[3] / "falcoctl_py" / "data" / "cost-model.default.json"
    digest = "sha256:" + "ab" * 32
    for deployed, kept in ((None, None), ({**build_values(profile="medium"), "image": {
            **build_values(profile="medium")["image"], "digest": digest}}, digest)):
        said: list[str] = []
        pushed: list[dict[str, Any]] = []

        def upgrade(argv: list[str], pushed: list[dict[str, Any]] = pushed) -> None:  # read while the file exists
            pushed.append(orjson.loads(Path(argv[argv.index("--values") + 1]).read_bytes()))

        helm = FakeHelm(deployed_values=deployed, on_upgrade=upgrade)
        try:
            await in_thread(apply_resources, api.kube(), helm, namespace="falco-py", release="falco-py",
                            context=None, kubeconfig=api.kubeconfig, profile="medium", cost_model=cost_model,
                            timeout=1, say=said.append)
        except ClusterError:
            pass  # nothing rolls out in the emulator after a fake helm
        (skipped,) = [line for line in said if line.startswith("image check skipped")]
        assert "--no-image-check" not in skipped and f"({RESIZE_KEEPS_IMAGE})" in skipped
        assert pushed[0]["image"]["digest"] == (kept or "")
        assert (digest in skipped) == (kept is not None)


def upstream_secret_log(n: int) -> str:
    lines = []
    for i in range(n):
        user, ns = (("system:serviceaccount:vault:secrets-operator", "vault") if i % 10 else
                    (f"system:serviceaccount:team{i}:app", f"team{i}"))
        lines.append(orjson.dumps({
            "rule": "K8s Secret Get Successfully", "priority": "Error", "source": "k8s_audit", "output": "...",
            "time": f"2026-11-29T00:00:{i % 60:02d}.000000000Z", "hostname": "n1", "tags": [],
            "output_fields": {"ka.user.name": user, "ka.target.name": f"creds-{i % 7}", "ka.target.namespace": ns,
                              "ka.target.resource": "secrets", "ka.response.code": "200",
                              "ka.response.reason": "<NA>"}}))
    return (b"\n".join(lines) + b"\n").decode()


async def test_cluster_tuning_of_upstream_rules_needs_no_allow_unguarded(
        api: Any, tmp_path: Path, upstream_rules: Path) -> None:  # noqa: F811
    api.seed("v1/nodes", node("n1", labels={}, cpu="8", memory="32Gi"))
    api.seed("v1/pods", pod("falco-py-a", "falco-py", labels=LABELS, node_name="n1"))
    api.mock["get /api/v1/namespaces/falco-py/pods/falco-py-a:8765/proxy/metrics"] << metrics_route(0.01, 100)
    api.mock["get /api/v1/namespaces/falco-py/pods/falco-py-a/log"] << upstream_secret_log(300)

    doc = await in_thread(run_cluster, Options(rules=(upstream_rules / "k8s_audit_rules.yaml",), profile="small"),
                          out_dir=tmp_path / "out", duration=2.5, context=None, kubeconfig=api.kubeconfig,
                          namespace="falco-py", apply=False, max_iterations=1)
    (prop,) = [p for p in doc["proposals"] if p["accepted"]]
    assert prop["fields"] == ["ka.user.name", "ka.target.namespace"]  # never ka.target.resource: the rule pins it
    assert prop["values"] == [["system:serviceaccount:vault:secrets-operator", "vault"]]
    assert doc["guard"]["unguarded"] == 0 and prop["checks"] > 0
    assert doc["verification"]["alerts_after"] == 30  # the other accounts' reads keep alerting
    assert "K8s Secret Get Successfully" in (tmp_path / "out" / "tuned-rules.yaml").read_text()
