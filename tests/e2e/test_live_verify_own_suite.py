"""This project's own suite files (``tests/data/evtgen``: rules of the upstream ``falco_rules.yaml`` that the
upstream suite files at hand do not test) run by ``falcoctl-py verify`` on the eBPF and audit backends: every
test passes, none tolerated, and the host is left as found. (The proc backend's share follows from the rules'
event types, as the upstream suite's test checks; its failing tests each wait out the timeout, so it is not run
here.)

The files use the language the upstream suite uses (templates with vector and matrix cases whose values are
mappings, lists and null, process chains with exePath/args/name/user/capabilities, fd and clientServer
resources, bindings, containers with an image, host and container variants of one test), so a runner or engine
gap they expose is one the held-out upstream files could hit too.

Needs root and the kernel interfaces; the run holds the kernel lock (``tests/kernel_support``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_material import REPO
from verify_expect import expected_tests, rule_event_types
from verify_run import run_suite

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="verify needs root and a real Linux kernel")

OWN_SUITE = REPO / "tests" / "data" / "evtgen"


def test_own_suite_rules_exist_and_are_new(shared: Path, upstream_rules: Path) -> None:
    """Every rule our files test is a rule of the upstream file, and none is one the upstream files test."""
    ours = {t.rule for t in expected_tests(OWN_SUITE)}
    upstream = {t.rule for t in expected_tests(shared / "upstream" / "evtgen_suite")}
    assert ours <= set(rule_event_types(upstream_rules / "falco_rules.yaml"))
    assert not ours & upstream


@needs_root
@pytest.mark.parametrize("backend", ["ebpf", "audit"])
def test_own_suite_passes(backend: str, upstream_rules: Path) -> None:
    if backend == "ebpf" and not Path("engine/sources/syscall/ebpf/probe.bpf.o").exists():
        pytest.skip("the ebpf backend is not built here")
    tests, returncode = run_suite(OWN_SUITE, upstream_rules / "falco_rules.yaml", backend, timeout=300)
    wrong = [(t["name"], t["status"], t["detail"], t["mismatches"]) for t in tests if t["status"] != "pass"]
    assert not wrong, f"{len(wrong)} of {len(tests)} did not pass, first: {wrong[:5]}"
    assert returncode == 0
