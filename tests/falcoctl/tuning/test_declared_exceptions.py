"""Preferring the rule's own exceptions: values are appended to a declared exception whose fields fit the noise;
one that would span an identity the noise does not (another namespace, parent...) is refused by a counterfactual
and the proposal falls back to a new named exception."""

from __future__ import annotations

from typing import Any

from falcoctl_py.tuning import guard
from falcoctl_py.tuning.declared import declared_exceptions
from falcoctl_py.tuning.noise import rank_rules
from falcoctl_py.tuning.pinned import rule_pins
from falcoctl_py.tuning.proposals import propose, render_override
from falcoctl_py.tuning.replay import base_pass
from falcoctl_py.tuning.scenarios import BACKUP, O_RDONLY, SHIM, T0, _proc, openat

RULE = """- rule: Shadow Read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: shadow read by %proc.exepath
  priority: WARNING
  exceptions:
  - name: {name}
    fields: [{fields}]
"""
WIDE = "container.image.repository, proc.exepath, proc.pname, k8s.ns.name, proc.name, user.name"


def _events() -> list[Any]:
    cron = _proc(2201, "/usr/sbin/cron", ["-f"], parent=SHIM, container=BACKUP, user="root")
    agent = _proc(2202, "/usr/local/bin/backup-agent", ["--snapshot"], parent=cron, container=BACKUP, user="root")
    return [openat(T0 + i, agent, "/etc/shadow", O_RDONLY, BACKUP) for i in range(100)]


def _screen(text: str) -> list[Any]:
    rules = [("rules.yaml", text)]
    base = guard.load_ruleset(rules)
    bp = base_pass(base, _events())
    declared = declared_exceptions(rules)
    noise = rank_rules(bp.alerts, window_seconds=600, pins=rule_pins(base),
                       extra_fields={r: tuple(f for d in exs for f in d.fields) for r, exs in declared.items()})
    screened, _ = guard.screen(propose(noise, declared=declared), rules_files=rules, corpus=[],
                               noise_events=bp.events_by_rule)
    return screened


def test_values_are_appended_to_a_declared_exception_that_fits() -> None:
    text = RULE.format(name="trusted_readers", fields=WIDE)
    (p,) = _screen(text)
    assert p.accepted and p.declared and p.name == "trusted_readers"
    override = render_override([p])
    assert "fields" not in override and "trusted_readers" in override  # values only: the author's fields stay
    tuned = guard.load_ruleset([("rules.yaml", text)], override)
    assert not any(tuned.evaluate(ev) for ev in _events())


def test_a_declared_exception_too_broad_for_the_noise_falls_back_to_a_new_one() -> None:
    (p,) = _screen(RULE.format(name="by_binary", fields="proc.exepath"))
    assert p.accepted and not p.declared and p.name.startswith("falcopy_tuned_")
    assert "appending to the rule's own exception 'by_binary' was refused" in p.reason
    assert "counterfactual" in p.reason
