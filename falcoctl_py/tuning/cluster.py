"""In-cluster tuning: scrape every engine pod's ``/metrics`` through the API server's pod proxy over a window.

Owns: the in-cluster measurement window — which pods, on which nodes and pools, node shapes from the Node
objects, metrics once a second, and the alerts each engine printed during the window (its log, Falco JSON lines)
for the noise analysis. API access goes through ``falcoctl_py.k8s``; parsing through ``collector``. With
``--apply`` the accepted exceptions go out through the rules-only upgrade path, resources re-sized from the
measured cost model go out through the engine upgrade path when a pool is over budget, and the run measures again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s.client import Kube, connect
from falcoctl_py.k8s.metrics import proxy_path
from falcoctl_py.k8s.objects import list_pods
from falcoctl_py.quantity import cpu_millicores, memory_bytes
from falcoctl_py.tuning.analysis import Options, analyse, write_outputs
from falcoctl_py.tuning.collector import parse_metrics
from falcoctl_py.tuning.overhead import NodeShape
from falcoctl_py.tuning.proposals import Proposal, render_override
from falcoctl_py.tuning.samples import Sample

POOL_LABEL = "falco-py.dev/pool"


def engine_pods(kube: Kube, namespace: str, *, release: str) -> list[Any]:
    pods = list_pods(kube, namespace, match_labels={"app.kubernetes.io/instance": release,
                                                    "app.kubernetes.io/name": "falco-py"})
    running = [p for p in pods if p.status and p.status.phase == "Running" and p.spec and p.spec.node_name]
    if not running:
        raise ClusterError(f"no running engine pods of release {release} in namespace {namespace}")
    return running


def node_shapes(kube: Kube, nodes: Sequence[str]) -> dict[str, NodeShape]:
    out = {}
    for name in nodes:
        node = kube.call(f"reading node {name}", kube.core().read_node, name)
        alloc = (node.status.allocatable or node.status.capacity or {}) if node.status else {}
        out[name] = NodeShape(cpu_cores=cpu_millicores(str(alloc.get("cpu", "1"))) / 1000.0,
                              memory_bytes=float(memory_bytes(str(alloc.get("memory", "1Gi")))))
    return out


def scrape_pod(kube: Kube, namespace: str, pod: Any, *, t0: float) -> Sample:
    body = kube.raw_get(f"reading metrics of pod {namespace}/{pod.metadata.name}",
                        proxy_path(namespace, pod.metadata.name, "metrics"))
    s = parse_metrics(body.decode("utf-8", "replace"), t=time.time() - t0, node=pod.spec.node_name,
                      pool=(pod.metadata.labels or {}).get(POOL_LABEL, "default"))
    return s


def pod_alerts(kube: Kube, namespace: str, pod: Any, *, since_seconds: int) -> list[dict[str, Any]]:
    """Falco JSON alerts the engine printed on stdout during the window (non-alert lines are skipped)."""
    text = kube.call(f"reading the log of pod {namespace}/{pod.metadata.name}",
                     kube.core().read_namespaced_pod_log, pod.metadata.name, namespace,
                     since_seconds=since_seconds)
    out = []
    for line in (text or "").splitlines():
        if line.startswith("{"):
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and "rule" in doc and "output_fields" in doc:
                doc.setdefault("node", pod.spec.node_name)
                out.append(doc)
    return out


def predicted_counts(alerts: Sequence[dict[str, Any]], proposals: Sequence[Proposal]) -> dict[str, list[int]]:
    """Per rule: alerts in the window, and those left if the accepted exceptions had been loaded (the fields of
    an exception are fields the alerts carry, so this is exact for them)."""
    rows: dict[str, list[int]] = {}
    by_rule: dict[str, list[Proposal]] = {}
    for p in proposals:
        if p.accepted and p.kind == "exception":
            by_rule.setdefault(p.rule, []).append(p)
    for a in alerts:
        rule = str(a.get("rule"))
        fields = a.get("output_fields") or {}
        hidden = any(tuple(str(fields.get(f)) for f in p.fields) in p.values for p in by_rule.get(rule, []))
        row = rows.setdefault(rule, [0, 0])
        row[0] += 1
        row[1] += 0 if hidden else 1
    return rows


# why a re-size does not ask the registry again: it keeps the image the release was installed with (checked then)
RESIZE_KEEPS_IMAGE = "tune re-size: the release keeps its installed image"
TUNED_KEY = "zz-falcopy-tuned-rules.yaml"  # sorts after the files it overrides: pods load the folder in name order


def apply_exceptions(kube: Kube, *, namespace: str, release: str, context: str | None, kubeconfig: Path | None,
                     tuned: Path, work: Path) -> None:
    """Push the tuned override through the rules-only upgrade path (no pod restart, reload confirmed per pod):
    the rules ConfigMap keeps every file it had and gets the override as its last file."""
    from falcoctl_py.deploy.rules_upgrade import upgrade_rules
    from falcoctl_py.deploy.steps import Target
    from falcoctl_py.k8s.objects import read_configmap

    cm = read_configmap(kube, namespace, f"{release}-rules")
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in sorted(((cm.data or {}) if cm is not None else {}).items()):
        if name != TUNED_KEY:
            (work / name).write_text(text)
            files.append(work / name)
    (work / TUNED_KEY).write_text(tuned.read_text())
    files.append(work / TUNED_KEY)
    upgrade_rules(kube, Target(release=release, namespace=namespace, context=context,
                               kubeconfig=str(kubeconfig) if kubeconfig else None), files)


def apply_resources(kube: Kube, helm: Any, *, namespace: str, release: str, context: str | None,
                    kubeconfig: Path | None, profile: str, cost_model: Path, timeout: float = 300.0,
                    say: Callable[[str], None] = lambda _line: None) -> Any:
    """Re-size the release from the measured cost model through the engine upgrade path (helm upgrade with
    rollback on failure, rollout watched, health verified), keeping the user's stored overrides and profile."""
    from falcoctl_py.deploy import install as plan
    from falcoctl_py.deploy.steps import Target

    target = Target(release=release, namespace=namespace, context=context,
                    kubeconfig=str(kubeconfig) if kubeconfig else None)
    opts = plan.InstallOptions(target=target, profile=plan.stored_profile(kube, target) or profile,
                               cost_model=str(cost_model), timeout=timeout, skip_image_check=RESIZE_KEEPS_IMAGE)
    return plan.plan_and_apply(kube, helm, opts, plan.Callbacks(say=say, confirm=lambda _question: True))


def measure(kube: Kube, namespace: str, *, release: str, duration: float) -> tuple[list[Sample], list[Any], float]:
    pods = engine_pods(kube, namespace, release=release)
    t0 = time.time()
    samples: list[Sample] = []
    next_at = time.monotonic()
    end = next_at + duration
    while time.monotonic() <= end:
        for pod in pods:
            try:
                samples.append(scrape_pod(kube, namespace, pod, t0=t0))
            except ClusterError:
                continue  # a pod restarting mid-window: its gap shows in the samples
        next_at += 1.0
        time.sleep(max(0.0, next_at - time.monotonic()))
    return samples, pods, time.time() - t0


def run_cluster(opts: Options, *, out_dir: Path, duration: float, context: str | None, kubeconfig: Path | None,
                namespace: str, apply: bool, max_iterations: int, quiet: bool = False,
                release: str = "falco-py", helm: Any = None) -> dict[str, Any]:
    kube = connect(context=context, kubeconfig=str(kubeconfig) if kubeconfig else None)
    if apply and helm is None:
        from falcoctl_py.helm import Helm

        helm = Helm()
    iterations: list[dict[str, Any]] = []
    doc: dict[str, Any] = {}
    applied: list[Proposal] = []  # exceptions pushed by earlier iterations stay in the override
    for i in range(max_iterations if apply else 1):
        samples, pods, elapsed = measure(kube, namespace, release=release, duration=duration)
        alerts = [a for pod in pods for a in pod_alerts(kube, namespace, pod, since_seconds=int(elapsed) + 1)]
        shapes = node_shapes(kube, sorted({p.spec.node_name for p in pods}))
        doc, screened, cost = analyse(samples=samples, idle_cpu_cores=0.0, idle_rss_bytes=0.0, duration=elapsed,
                                      alerts=alerts, events=[], opts=opts, mode="cluster", shapes=shapes)
        counts = predicted_counts(alerts, screened)
        before, after = sum(r[0] for r in counts.values()), sum(r[1] for r in counts.values())
        doc["verification"] = {"alerts_before": before, "alerts_after": after,
                               "reduction": (1 - after / before) if before else 0.0, "per_rule": counts,
                               "method": "accepted exceptions evaluated on the window's alerts"}
        write_outputs(doc, screened, cost, out_dir=out_dir, profile=opts.profile)
        within = all(p["within_budget"] for p in doc["overhead"]["pools"].values())
        accepted = [p for p in screened if p.accepted and p.kind == "exception"]
        iterations.append({"iteration": i + 1, "alerts": before, "alerts_after_proposals": after,
                           "within_budget": within, "accepted_proposals": len(accepted)})
        if not apply or (within and not accepted):
            break
        if i > 0 and iterations[-1]["alerts"] >= iterations[-2]["alerts"] and within:
            break  # nothing improves
        if i + 1 >= max_iterations:
            break  # no measurement would follow what we push now
        applied += accepted
        (out_dir / "tuned-rules.yaml").write_text(render_override(applied))
        if accepted:
            apply_exceptions(kube, namespace=namespace, release=release, context=context, kubeconfig=kubeconfig,
                             tuned=out_dir / "tuned-rules.yaml", work=out_dir / f"applied-{i + 1}")
        if not within:
            apply_resources(kube, helm, namespace=namespace, release=release, context=context,
                            kubeconfig=kubeconfig, profile=opts.profile, cost_model=out_dir / "cost-model.json")
    doc["iterations"] = iterations
    return doc
