"""One live ``falcoctl-py verify`` run as the suite tests make it: under the kernel lock, with a snapshot of the
host before and after.

Owns: ``run_suite(suite, rules, backend, timeout=...) -> (tests, returncode)``, which asserts what every run must
hold whatever its results: a JSON report in suite order (the names ``expected_tests`` gives), nothing the runner
made left unremoved, and the host as it was found. The callers judge the statuses.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from cli_support import cli_process
from hoststate import changes, snapshot
from kernel_support import kernel_lock
from verify_expect import expected_tests


def run_suite(suite: Path, rules: Path, backend: str, *, timeout: float) -> tuple[list[dict[str, object]], int]:
    expected = [t.name for t in expected_tests(suite)]
    before = snapshot()
    with kernel_lock():
        done = cli_process("verify", "--suite", str(suite), "--rules", str(rules), "--backend", backend,
                           "-o", "json", timeout=timeout)
    after = snapshot()
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    tests: list[dict[str, object]] = report["tests"]
    assert [t["name"] for t in tests] == expected
    print(f"\n{backend}: {dict(Counter(str(t['status']) for t in tests))} in {report['seconds']} s")
    assert not [s for t in tests for s in t["steps"] if str(s).startswith("not removed")]  # type: ignore[attr-defined]
    assert changes(before, after) == []
    return tests, done.returncode
