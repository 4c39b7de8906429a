"""End to end on the real engine in-process: a noisy replay is tuned, ≥ 90% of its alerts go, no guard detection
is lost, and the override file loads on top of the unmodified base rules."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.runtime import Engine
from engine.sources.k8s_audit.decode import decode_payload
from engine.sources.replay import ReplaySource
from falcoctl_py.tuning import guard
from falcoctl_py.tuning.analysis import Options, analyse
from falcoctl_py.tuning.proposals import render_override
from falcoctl_py.tuning.samples import Sample
from falcoctl_py.tuning.scenarios import DATA, RS, audit_event, pod

REPO = Path(__file__).resolve().parents[3]
RULES = (REPO / "engine" / "default_rules" / "falco_py_rules.yaml",)


def noisy_audit() -> list[object]:
    raw = [audit_event(n=i, verb="get", user="ci-deployer", resource="secrets", namespace="shop",
                       name=f"deploy-key-{i % 3}") for i in range(1200)]
    raw += [audit_event(n=5000 + i, verb="create", user=RS, resource="pods", namespace="monitoring", code=201,
                        agent="kube-controller-manager/v1.31.2",
                        request=pod(ns="monitoring", image="quay.io/prometheus/node-exporter:v1.8", privileged=True))
            for i in range(300)]
    raw += [audit_event(n=9000 + i, verb="get", user=f"dev{i}@example.com", resource="secrets", namespace="shop",
                        name="x") for i in range(20)]  # spread thinly: no exception can describe these
    return [ev for r in raw for ev in decode_payload(orjson.dumps(r))]


def test_noisy_replay_is_tuned_without_losing_detections() -> None:
    events = noisy_audit() + list(ReplaySource(DATA / "syscall-sample.jsonl", name="syscall"))
    alerts: list[dict[str, object]] = []
    engine = Engine(guard.load_ruleset(RULES), outputs=[lambda a: alerts.append(orjson.loads(a.to_json()))])
    for ev in events:
        engine.process(ev)
    samples = [Sample(t=float(t), cpu_seconds=0.1 * t, rss_bytes=6e7, events={"k8s_audit": 100.0 * t})
               for t in range(10)]
    doc, screened, _ = analyse(samples=samples, idle_cpu_cores=0.01, idle_rss_bytes=6e7, duration=600,
                               alerts=alerts, events=events, opts=Options(rules=RULES, profile="small"),
                               mode="local")
    ver = doc["verification"]
    assert ver["alerts_before"] == len(alerts) > 1500
    assert ver["reduction"] >= 0.9, ver
    assert doc["guard"]["lost"] == []
    assert doc["guard"]["detections_after"] == doc["guard"]["detections_before"] == 16
    accepted = {(p.rule, p.fields, p.values) for p in screened if p.accepted}
    assert ("FPY Secret Read By Non-System User", ("ka.user.name", "ka.target.namespace"),
            (("ci-deployer", "shop"),)) in {(r, f[:2], tuple(v[:2] for v in vals)) for r, f, vals in accepted}
    # the thinly spread developers' reads keep alerting
    assert ver["per_rule"]["FPY Secret Read By Non-System User"][1] == 20
    # the override loads on top of the unmodified base rules
    assert guard.load_ruleset(RULES, render_override(screened)) is not None
