"""``helm lint --strict`` is clean for the defaults and for every ci/ values file."""

from __future__ import annotations

from pathlib import Path

import pytest
from chartutil import CHART, CI_VALUES, ci_id

from falcoctl_py.helm import Helm

pytestmark = pytest.mark.helm


def test_lint_strict_defaults(helm: Helm) -> None:
    out = helm.lint(CHART, strict=True)
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize("values_file", CI_VALUES, ids=ci_id)
def test_lint_strict_each_ci_values(helm: Helm, values_file: Path) -> None:
    out = helm.lint(CHART, strict=True, values_files=[values_file])
    assert "0 chart(s) failed" in out


def test_one_ci_file_per_toggle_exists() -> None:
    names = {p.stem for p in CI_VALUES}
    for toggle in (
        "webhook-values",
        "logfile-values",
        "pools-labelkey-values",
        "pools-selector-values",
        "syscall-proc-values",
        "syscall-audit-values",
        "syscall-ebpf-values",
        "monitoring-values",
        "sinks-values",
        "netpol-disabled-values",
        "rules-values",
    ):
        assert toggle in names
