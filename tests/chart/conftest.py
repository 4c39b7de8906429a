"""Chart test helpers: the helm binary (skip when missing, fail under CI=true) and in-process CLI runs."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from falcoctl_py.errors import HelmError
from falcoctl_py.helm import Helm, find_helm


@pytest.fixture(scope="session")
def helm() -> Helm:
    try:
        return Helm(find_helm())
    except HelmError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"helm required under CI=true: {exc}")
        pytest.skip(f"helm not available: {exc}")


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``falcoctl-py ARGS`` in-process through the real error edge; returns (exit code, stdout, stderr)."""
    from cli_support import run

    return lambda *args: run(capsys, *args)
