"""Running ``falcoctl-py`` in tests: in-process through the real CLI edge, as a child process (``cli_process``
waits for it, ``cli_popen`` starts it, ``wait_or_kill`` ends any child that was asked to stop), and the helm
requirement.

Import from any test (``from cli_support import run, require_helm``; ``tests/`` is on pytest's pythonpath).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from falcoctl_py.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``falcoctl-py ARGS`` through the error edge (which always exits): (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


CLI = (sys.executable, "-m", "falcoctl_py.cli.main")


def cli_process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``falcoctl-py ARGS`` as a child process, waited for: exit code, stdout and stderr as text."""
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=timeout)


def cli_popen(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """``falcoctl-py ARGS`` started as a child process, text mode, stdout and stderr piped unless ``kwargs`` say
    otherwise (they go to ``subprocess.Popen``)."""
    return subprocess.Popen([*CLI, *args], text=True, **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE,
                                                         **kwargs})


def wait_or_kill(proc: subprocess.Popen[Any], timeout: float) -> int:
    """Wait up to ``timeout`` seconds for ``proc`` (already asked to stop) to exit, else kill it; its exit code."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def require_helm() -> None:
    """Skip without a helm binary (``make setup`` installs one); under CI=true a skip is a failure."""
    from falcoctl_py.errors import HelmError
    from falcoctl_py.helm import find_helm

    try:
        find_helm()
    except HelmError as exc:
        pytest.skip(str(exc))
