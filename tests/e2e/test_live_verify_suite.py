"""Falco's own syscall suite (``../shared/upstream/evtgen_suite``, unmodified) with the upstream
``falco_rules.yaml``, run by ``falcoctl-py verify`` on every syscall backend that can run here.

The eBPF and audit backends must pass every test (eBPF with none tolerated). The proc connector reports exec and
exit only: a test passes there exactly when its rule can match an exec or exit event, which is derived from the
rule's event types — so suite files added to the directory need no edit here. The expected tests are the suite
loader's, whatever files the directory holds. docs/verify.md names the rules proc cannot see; that table is
checked against the derivation (without root).

Needs root and the kernel interfaces; each run holds the kernel lock (``tests/kernel_support``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from verify_expect import documented_unseen, rule_event_types, unseen_rules
from verify_run import run_suite

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="verify needs root and a real Linux kernel")


def _backend_runs(backend: str) -> bool:
    probe = {"ebpf": Path("engine/sources/syscall/ebpf/probe.bpf.o"), "audit": None, "proc": None}[backend]
    return probe is None or probe.exists()


def test_docs_table_of_rules_proc_cannot_see(upstream_rules: Path) -> None:
    """Each rule docs/verify.md says proc cannot see is one it derives, needing exactly the events the table
    names; and the table misses none of the rules file's unseen rules."""
    types = rule_event_types(upstream_rules / "falco_rules.yaml")
    documented = documented_unseen()
    derived = unseen_rules("proc", types)
    assert documented, "docs/verify.md names no rule the proc backend cannot see"
    wrong = {rule: (events, types.get(rule)) for rule, events in documented.items()
             if rule not in derived or types.get(rule) != events}
    assert not wrong, f"docs/verify.md table rows that do not hold (documented, derived): {wrong}"
    assert sorted(derived - set(documented)) == []


@needs_root
@pytest.mark.parametrize("backend", ["ebpf", "audit", "proc"])
def test_upstream_suite(backend: str, shared: Path, upstream_rules: Path) -> None:
    if not _backend_runs(backend):
        pytest.skip(f"the {backend} backend is not built here")
    suite = shared / "upstream" / "evtgen_suite"
    unseen = unseen_rules(backend, rule_event_types(upstream_rules / "falco_rules.yaml"))
    tests, returncode = run_suite(suite, upstream_rules / "falco_rules.yaml", backend, timeout=1800)
    wrong = [(t["name"], t["status"], t["detail"], t["mismatches"]) for t in tests
             if (t["status"] == "pass") == (t["rule"] in unseen)]
    assert not wrong, f"{len(wrong)} tests differ from what {backend} can see, first: {wrong[:5]}"
    assert returncode == (1 if any(t["rule"] in unseen for t in tests) else 0)
