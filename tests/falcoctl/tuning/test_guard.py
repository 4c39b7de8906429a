"""The detection guard against the real loader and the shipped corpus: unsafe exceptions are refused, a narrow
one is accepted, and the shipped data is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from falcoctl_py.tuning import guard, scenarios
from falcoctl_py.tuning.proposals import Proposal

REPO = Path(__file__).resolve().parents[3]
DEFAULT_RULES = [REPO / "engine" / "default_rules" / "falco_py_rules.yaml"]


@pytest.fixture(scope="module")
def corpus() -> list[guard.Scenario]:
    return guard.load_corpus()


def exception(rule: str, **fields: str) -> Proposal:
    names = tuple(k.replace("__", ".") for k in fields)
    return Proposal(rule=rule, kind="exception", name="falcopy_tuned_test", fields=names,
                    comps=tuple("=" for _ in names), values=(tuple(fields.values()),))


def test_shipped_corpus_and_sample_are_current() -> None:
    assert scenarios.main([]) == 0, "run: python -m falcoctl_py.tuning.scenarios --write"


def test_every_default_rule_has_a_scenario_and_each_fires(corpus: list[guard.Scenario]) -> None:
    base = guard.load_ruleset(DEFAULT_RULES)
    rule_names = {r.name for r in base.rules}
    covered = {r for sc in corpus for r in sc.expect_rules}
    assert rule_names <= covered, f"rules with no guard scenario: {sorted(rule_names - covered)}"
    for name, fired in guard.detections(base, corpus).items():
        expected = next(sc for sc in corpus if sc.name == name).expect_rules
        assert fired == set(expected), name


def test_exception_that_hides_an_attack_is_refused(corpus: list[guard.Scenario]) -> None:
    broad = exception("FPY Secret Read By Non-System User", ka__user__name="ci-deployer")
    narrow = exception("FPY Secret Read By Non-System User", ka__user__name="ci-deployer",
                       ka__target__namespace="shop")
    screened, report = guard.screen([broad, narrow], rules_files=DEFAULT_RULES, corpus=corpus)
    assert not screened[0].accepted
    assert "stolen-ci-credentials-read-payments-secret" in screened[0].refused_because[0]
    assert screened[1].accepted
    assert report["lost"] == [] and report["detections_after"] == report["detections_before"]


def test_name_alone_is_not_enough_for_the_backup_agent(corpus: list[guard.Scenario]) -> None:
    by_name = exception("FPY Shadow File Read By Unexpected Program", proc__name="backup-agent")
    with_image = exception("FPY Shadow File Read By Unexpected Program", proc__name="backup-agent",
                           container__image__repository="registry.example.com/acme/backup-agent")
    screened, _ = guard.screen([by_name, with_image], rules_files=DEFAULT_RULES, corpus=corpus)
    assert [p.accepted for p in screened] == [False, True]


def test_rule_without_scenario_is_refused_unless_allowed(corpus: list[guard.Scenario]) -> None:
    p = exception("Some Upstream Rule", proc__exepath="/usr/bin/x")
    text = ("- rule: Some Upstream Rule\n  desc: d\n  condition: evt.type = open and proc.name = y\n"
            "  output: o %proc.name\n  priority: INFO\n")
    extra = ("extra.yaml", text)
    rules = [*DEFAULT_RULES, extra]
    (refused,), _ = guard.screen([p], rules_files=rules, corpus=corpus)
    assert not refused.accepted and "no guard scenario" in refused.refused_because[0]
    (allowed,), _ = guard.screen([p], rules_files=rules, corpus=corpus, allow_unguarded=True)
    assert allowed.accepted


def test_a_pinned_field_or_a_missing_anchor_is_refused_by_name(corpus: list[guard.Scenario]) -> None:
    # the rule pins ka.target.namespace (kube-system): an exception on it names the action, not who does it
    text = ("- rule: Pods In System Namespace\n  desc: d\n  condition: ka.verb = create and "
            "ka.target.resource = pods and ka.target.namespace in (kube-system)\n  output: o %ka.user.name\n"
            "  priority: INFO\n  source: k8s_audit\n")
    rules = [*DEFAULT_RULES, ("extra.yaml", text)]
    pinned = exception("Pods In System Namespace", ka__user__name="ci", ka__target__namespace="kube-system")
    scope_only = exception("FPY Secret Read By Non-System User", ka__target__namespace="shop")
    screened, report = guard.screen([pinned, scope_only], rules_files=rules, corpus=corpus, allow_unguarded=True)
    assert not screened[0].accepted and "ka.target.namespace" in screened[0].refused_because[0]
    assert "compares to a constant" in screened[0].refused_because[0]
    assert not screened[1].accepted and "no identity anchor" in screened[1].refused_because[0]
    assert report["refused_reasons"] == {"pinned field": 1, "no identity anchor": 1}
