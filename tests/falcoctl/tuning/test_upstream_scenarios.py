"""The guard scenarios shipped for the upstream rules (profiles/guard): current, each raising its rule under the
unmodified upstream files, and refusing a proposal that would hide one, by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from falcoctl_py.tuning import guard, upstream_scenarios
from falcoctl_py.tuning.proposals import Proposal


def test_shipped_upstream_scenarios_are_current() -> None:
    assert upstream_scenarios.main([]) == 0, "run: python -m falcoctl_py.tuning.upstream_scenarios --write"


@pytest.mark.parametrize("name", ["k8s_audit_rules.yaml", "falco_rules.yaml"])
def test_each_scenario_raises_its_rule_under_upstream(upstream_rules: Path, name: str) -> None:
    base = guard.load_ruleset([upstream_rules / name])
    corpus = guard.relevant(guard.upstream_corpora(), base)
    assert len(corpus) >= 4
    for sc in corpus:
        assert sc.provenance
        assert guard.detections(base, [sc])[sc.name] == set(sc.expect_rules), sc.name


def test_a_proposal_hiding_a_shipped_scenario_is_refused_by_name(upstream_rules: Path) -> None:
    p = Proposal(rule="K8s Secret Get Successfully", kind="exception", name="falcopy_tuned_user",
                 fields=("ka.user.name", "ka.target.namespace"), comps=("=", "="),
                 values=(("system:serviceaccount:default:compromised", "payments"),))
    (refused,), report = guard.screen([p], rules_files=[upstream_rules / "k8s_audit_rules.yaml"],
                                      corpus=guard.upstream_corpora())
    assert not refused.accepted
    assert "(scenario 'upstream-secret-read')" in refused.refused_because[0]
    assert refused.hidden[0]["event"].startswith("system:serviceaccount:default:compromised get payments/secrets")
    assert report["lost"] == [] and report["refused_reasons"] == {"hides a guard scenario": 1}
