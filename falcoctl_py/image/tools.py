"""Running the external build tools (debootstrap, buildah, tar, pip) for the image build.

Owns: ``run_tool`` — argv in, stdout out; a missing binary or missing root is ``PrivilegeError`` (exit 4, naming
the Debian package), a failed run is ``BuildError`` (exit 3) with the tool's last stderr lines on one line.
Output is streamed to the user's stderr unless captured, so a long build shows progress.

Must not: decide what to build (``debian_base``, ``builder`` do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from falcoctl_py.errors import EXIT_CLUSTER, FalcoctlError, PrivilegeError

PACKAGES = {"debootstrap": "debootstrap", "buildah": "buildah", "skopeo": "skopeo", "umoci": "umoci"}


class BuildError(FalcoctlError):
    """A build tool ran and failed."""

    exit_code = EXIT_CLUSTER


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PrivilegeError(f"{what} needs root (debootstrap and buildah's chroot isolation)")


def which(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise PrivilegeError(f"{tool} not found: install Debian's {PACKAGES.get(tool, tool)} (make test-debs does)")
    return path


def run_tool(argv: list[str], *, capture: bool = False, cwd: Path | None = None,
             env: dict[str, str] | None = None, timeout: float = 1800.0) -> str:
    """Run ``argv``; stdout when ``capture``, else output goes to stderr as it comes."""
    exe = argv[0] if "/" in argv[0] else which(argv[0])
    try:
        done = subprocess.run([exe, *argv[1:]], check=False, cwd=cwd, text=True, timeout=timeout,
                              env={**os.environ, **env} if env else None,
                              stdout=subprocess.PIPE if capture else sys.stderr,
                              stderr=subprocess.PIPE)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{argv[0]} {' '.join(argv[1:3])} ... did not finish in {timeout:.0f} s") from None
    if not capture and done.stderr:
        sys.stderr.write(done.stderr)
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr or "").splitlines() if ln.strip()]
        tail = " | ".join(lines[-2:])
        raise BuildError(f"{argv[0]} {' '.join(argv[1:3])} ... failed (exit {done.returncode})"
                         + (f": {tail}" if tail else ""))
    return done.stdout or ""
