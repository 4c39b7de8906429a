"""Tuning the upstream ``k8s_audit_rules.yaml`` unmodified: a busy cluster's noisy replay (a CI runner exec-ing
into its pods, a secrets operator, a DaemonSet controller creating privileged pods in kube-system, a deploy bot,
and thin background) is tuned without --allow-unguarded; the override removes >= 90% of the dominant noise, every
near-miss attack (same rule, another identity, namespace or image) still fires through base + override, and no
exception names a field the rule pins."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.sources.k8s_audit.decode import decode_payload
from falcoctl_py.tuning import guard
from falcoctl_py.tuning.analysis import Options, analyse
from falcoctl_py.tuning.pinned import rule_pins
from falcoctl_py.tuning.proposals import render_override
from falcoctl_py.tuning.samples import Sample
from falcoctl_py.tuning.scenarios import audit_event, pod

RUNNER = "system:serviceaccount:ci:gitlab-runner"
OPERATOR = "system:serviceaccount:vault:secrets-operator"
DS = "system:serviceaccount:kube-system:daemon-set-controller"
BOT = "system:serviceaccount:argocd:argocd-application-controller"


def _exec(n: int, user: str, ns: str) -> dict[str, Any]:
    ev = audit_event(n=n, verb="create", user=user, resource="pods", namespace=ns, name=f"runner-{n % 40}-build",
                     subresource="exec", code=101, query="command=sh&container=build&stdin=true&tty=false")
    ev["stage"] = "ResponseStarted"
    return ev


def _secret(n: int, user: str, ns: str) -> dict[str, Any]:
    return audit_event(n=n, verb="get", user=user, resource="secrets", namespace=ns, name=f"app-{n % 9}-creds")


def _priv(n: int, user: str, ns: str, image: str) -> dict[str, Any]:
    return audit_event(n=n, verb="create", user=user, resource="pods", namespace=ns, code=201,
                       agent="kube-controller-manager/v1.31.2", request=pod(ns=ns, image=image, privileged=True))


def _deploy(n: int, user: str, ns: str) -> dict[str, Any]:
    return audit_event(n=n, verb="create", user=user, resource="deployments", namespace=ns, group="apps",
                       name=f"svc-{n % 12}", code=201)


NOISE = {
    "Attach/Exec Pod": (RUNNER, 900),
    "K8s Secret Get Successfully": (OPERATOR, 700),
    "Create Privileged Pod": (DS, 300),
    "K8s Deployment Created": (BOT, 250),
}


def noisy_stream() -> list[dict[str, Any]]:
    rng = random.Random(15)
    raw = [_exec(i, RUNNER, "ci") for i in range(900)]
    raw += [_secret(10_000 + i, OPERATOR, "vault") for i in range(700)]
    raw += [_priv(20_000 + i, DS, "kube-system", "quay.io/cilium/cilium:v1.16") for i in range(300)]
    raw += [_deploy(30_000 + i, BOT, "shop") for i in range(250)]
    for i in range(1500):  # background: reads that raise nothing, and a thin spread of humans' secret reads
        n = 40_000 + i
        if rng.random() < 0.03:
            raw.append(_secret(n, f"system:serviceaccount:team{i % 50}:app", f"team{i % 50}"))
        else:
            raw.append(audit_event(n=n, verb=rng.choice(["get", "list", "watch"]), user=f"system:node:n{i % 7}",
                                   resource=rng.choice(["pods", "configmaps", "endpoints"]), namespace="shop"))
    rng.shuffle(raw)
    return raw


NEAR_MISSES = {  # same rule, fired by another identity, namespace or image
    "another service account execs in ci": ("Attach/Exec Pod", _exec(1, "system:serviceaccount:ci:intruder", "ci")),
    "the runner execs into payments": ("Attach/Exec Pod", _exec(2, RUNNER, "payments")),
    "another account reads vault secrets": ("K8s Secret Get Successfully",
                                            _secret(3, "system:serviceaccount:shop:web", "vault")),
    "the operator reads kube-system secrets": ("K8s Secret Get Successfully", _secret(4, OPERATOR, "kube-system")),
    "the controller starts a miner image": ("Create Privileged Pod",
                                            _priv(5, DS, "kube-system", "docker.io/evil/xmrig:latest")),
    "another account starts cilium privileged": ("Create Privileged Pod",
                                                 _priv(6, "system:serviceaccount:default:ci", "kube-system",
                                                       "quay.io/cilium/cilium:v1.16")),
    "the controller's image, privileged, in default": ("Create Privileged Pod",
                                                       _priv(7, DS, "default", "quay.io/cilium/cilium:v1.16")),
    "another account deploys to shop": ("K8s Deployment Created",
                                        _deploy(8, "system:serviceaccount:shop:pwned", "shop")),
}


def _events(raw: list[dict[str, Any]]) -> list[Any]:
    return [ev for r in raw for ev in decode_payload(orjson.dumps(r))]


@pytest.fixture(scope="module")
def tuned(upstream_rules: Path) -> tuple[dict[str, Any], list[Any], tuple[Path, ...]]:
    rules = (upstream_rules / "k8s_audit_rules.yaml",)
    events = _events(noisy_stream())
    samples = [Sample(t=float(t), cpu_seconds=0.05 * t, rss_bytes=6e7, events={"k8s_audit": 400.0 * t})
               for t in range(10)]
    doc, screened, _ = analyse(samples=samples, idle_cpu_cores=0.01, idle_rss_bytes=6e7, duration=600,
                               alerts=[], events=events, opts=Options(rules=rules, profile="small"), mode="local")
    return doc, screened, rules


def test_dominant_noise_goes_without_allow_unguarded(tuned: tuple[dict[str, Any], list[Any], Any]) -> None:
    doc, screened, _ = tuned
    per_rule = doc["verification"]["per_rule"]
    for rule, (_, count) in NOISE.items():
        before, after = per_rule[rule]
        assert before >= count, (rule, before)
        assert after <= 0.1 * count, (rule, per_rule[rule], [p.refused_because for p in screened if p.rule == rule])
    accepted = [p for p in screened if p.accepted and p.kind == "exception"]
    assert {p.rule for p in accepted} >= set(NOISE)
    assert not any("UNGUARDED" in p.reason for p in accepted)
    # the thin spread of other accounts' secret reads keeps alerting
    assert per_rule["K8s Secret Get Successfully"][1] >= 30


def test_no_exception_names_a_pinned_field_and_each_has_an_anchor(
        tuned: tuple[dict[str, Any], list[Any], tuple[Path, ...]]) -> None:
    _, screened, rules = tuned
    pins = rule_pins(guard.load_ruleset(rules))
    for p in screened:
        if p.kind == "exception" and p.accepted:
            assert not set(p.fields) & pins[p.rule], (p.rule, p.fields)
            assert {"ka.user.name", "ka.impuser.name", "ka.req.pod.containers.image.repository"} & set(p.fields)
    assert "ka.target.resource" in pins["K8s Secret Get Successfully"]


def test_every_near_miss_attack_still_fires(tuned: tuple[dict[str, Any], list[Any], tuple[Path, ...]]) -> None:
    _, screened, rules = tuned
    override = render_override(screened)
    tuned_rules = guard.load_ruleset(rules, override)
    for what, (rule, raw) in NEAR_MISSES.items():
        (ev,) = _events([raw])
        assert rule in {r.name for r in tuned_rules.evaluate(ev)}, (what, override)


def test_the_guard_report_counts_checks_and_refusals(tuned: tuple[dict[str, Any], list[Any], Any]) -> None:
    doc, _, _ = tuned
    g = doc["guard"]
    assert g["counterfactual_checks"] > 0 and g["lost"] == []
    assert isinstance(g["refused_reasons"], dict)


def test_the_cascade_to_the_next_rule_is_tuned_too(tuned: tuple[dict[str, Any], list[Any], Any]) -> None:
    # first match: once Create Privileged Pod spares the controller, its pods meet Pod Created in Kube Namespace
    doc, screened, _ = tuned
    assert doc["verification"]["reduction"] >= 0.9, doc["verification"]
    assert any(p.rule == "Pod Created in Kube Namespace" and p.accepted for p in screened)


def test_an_exception_on_the_controller_alone_is_refused_with_the_event(
        tuned: tuple[dict[str, Any], list[Any], tuple[Path, ...]]) -> None:
    from falcoctl_py.tuning.proposals import Proposal
    from falcoctl_py.tuning.replay import base_pass

    _, _, rules = tuned
    events = _events(noisy_stream())
    bp = base_pass(guard.load_ruleset(rules), events)
    broad = Proposal(rule="Create Privileged Pod", kind="exception", name="falcopy_tuned_user",
                     fields=("ka.user.name",), comps=("=",), values=((DS,),))
    (p,), report = guard.screen([broad], rules_files=rules, corpus=[], noise_events=bp.events_by_rule)
    assert not p.accepted
    changed = {h["changed"] for h in p.hidden}
    assert {"namespace", "image"} <= changed
    assert any("xmrig" not in h["event"] and "registry.counterfactual.invalid" in h["event"] for h in p.hidden)
    assert report["refused_reasons"] == {"hides a counterfactual copy": 1}


def test_the_html_report_shows_volume_identities_yaml_and_hidden_attacks(
        tuned: tuple[dict[str, Any], list[Any], tuple[Path, ...]]) -> None:
    from falcoctl_py.tuning.proposals import Proposal
    from falcoctl_py.tuning.replay import base_pass
    from falcoctl_py.tuning.report import render_html, render_markdown

    doc, _, rules = tuned
    bp = base_pass(guard.load_ruleset(rules), _events(noisy_stream()))
    broad = Proposal(rule="Attach/Exec Pod", kind="exception", name="falcopy_tuned_ns",
                     fields=("ka.user.name",), comps=("=",), values=((RUNNER,),))
    (refused,), _ = guard.screen([broad], rules_files=rules, corpus=[], noise_events=bp.events_by_rule)
    doc = {**doc, "proposals": [*doc["proposals"], refused.to_dict()]}
    html = render_html(doc)
    assert "Attach/Exec Pod: alerts per 25 s, before and after tuning" in html
    assert "system:serviceaccount:ci:gitlab-runner</td><td>900" in html
    assert "override: {exceptions: append}" in html and "falcopy_tuned_ka_user_name_ka_target_namespace" in html
    assert "counterfactual (another namespace): system:serviceaccount:ci:gitlab-runner create " \
           "falcopy-counterfactual/pods/" in html
    assert "would hide counterfactual" in render_markdown(doc)
