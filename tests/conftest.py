"""Shared fixtures: upstream Falco material (see ``shared_material``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from shared_material import REPO, require_shared, shared_dir

__all__ = ["REPO", "require_shared", "shared_dir"]


@pytest.fixture(scope="session")
def shared() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def upstream_rules() -> Path:
    return require_shared("upstream", "rules")


@pytest.fixture(scope="session")
def conformance() -> Path:
    return require_shared("conformance")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true a skip is a failure: CI has root, helm, the kernel interfaces and ../shared, so a test that
    skips there is a test that did not run (a broken setup step must not pass quietly)."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (every test must run in CI): {reason}"
