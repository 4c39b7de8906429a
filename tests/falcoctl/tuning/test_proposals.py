"""Proposals: explained noise becomes exceptions in an override file the engine's loader accepts."""

from __future__ import annotations

import yaml

from falcoctl_py.tuning.noise import Explanation, RuleNoise
from falcoctl_py.tuning.proposals import propose, render_override


def noise(rule: str, per_hour: float, *exps: Explanation, count: int = 100) -> RuleNoise:
    return RuleNoise(rule=rule, source="syscall", priority="Warning", count=count, per_hour=per_hour,
                     explanations=exps)


def test_dominant_process_gives_exactly_that_exception() -> None:
    ex = Explanation(fields=("proc.name", "proc.pname"), values=("backup-agent", "cron"), count=95, share=0.95)
    (p,) = propose([noise("Read sensitive file untrusted", 500, ex)])
    assert p.kind == "exception" and p.accepted
    assert p.fields == ("proc.name", "proc.pname") and p.comps == ("=", "=")
    assert p.values == (("backup-agent", "cron"),)
    doc = yaml.safe_load(render_override([p]))
    assert doc == [{"rule": "Read sensitive file untrusted",
                    "exceptions": [{"name": "falcopy_tuned_proc_name_proc_pname",
                                    "fields": ["proc.name", "proc.pname"], "comps": ["=", "="],
                                    "values": [["backup-agent", "cron"]]}],
                    "override": {"exceptions": "append"}}]


def test_same_fields_share_one_exception_with_several_rows() -> None:
    a = Explanation(fields=("proc.name",), values=("a",), count=50, share=0.5)
    b = Explanation(fields=("proc.name",), values=("b",), count=40, share=0.4)
    (p,) = propose([noise("R", 500, a, b)])
    assert p.values == (("a",), ("b",)) and p.expected_removed == 90


def test_quiet_rules_get_nothing_and_unexplained_loud_rules_only_a_flagged_disable() -> None:
    props = propose([noise("quiet", 5), noise("loud", 5000)])
    assert [(p.rule, p.kind, p.accepted) for p in props] == [("loud", "disable", False)]
    assert "review" in props[0].refused_because[0]
    assert yaml.safe_load(render_override(props)) == []


def test_refused_proposals_are_not_written() -> None:
    ex = Explanation(fields=("proc.name",), values=("a",), count=90, share=0.9)
    (p,) = propose([noise("R", 500, ex)])
    assert yaml.safe_load(render_override([p.refuse(["hides guard scenario x"])])) == []
