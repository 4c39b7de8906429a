"""Running ``falcoctl-py`` in tests: in-process through the real CLI edge, and the helm requirement.

Import from any test (``from cli_support import run, require_helm``; ``tests/`` is on pytest's pythonpath).
"""

from __future__ import annotations

import pytest

from falcoctl_py.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``falcoctl-py ARGS`` through the error edge (which always exits): (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def require_helm() -> None:
    """Skip without a helm binary (``make setup`` installs one); under CI=true a skip is a failure."""
    from falcoctl_py.errors import HelmError
    from falcoctl_py.helm import find_helm

    try:
        find_helm()
    except HelmError as exc:
        pytest.skip(str(exc))
