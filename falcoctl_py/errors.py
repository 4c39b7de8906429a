"""Typed errors for the CLI: every failure a user can see is one of these, with an exit code and a one-line reason.

Owns: the exit-code contract (0 ok, 1 findings, 2 usage, 3 cluster/helm failure, 4 missing privilege or
unsupported host). Modules that talk to third parties (``falcoctl_py.k8s``, ``falcoctl_py.helm``) translate their
errors into these; nothing else should let a third-party exception escape.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CLUSTER = 3
EXIT_PRIVILEGE = 4


class FalcoctlError(Exception):
    """Base class: ``str(err)`` is the one-line reason shown to the user."""

    exit_code = EXIT_FINDINGS

    def __init__(self, reason: str, *, exit_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if exit_code is not None:
            self.exit_code = exit_code


class FindingsError(FalcoctlError):
    """Invalid rules or input data, failed checks."""

    exit_code = EXIT_FINDINGS


class UsageError(FalcoctlError):
    """Bad flags or values supplied by the user."""

    exit_code = EXIT_USAGE


class ClusterError(FalcoctlError):
    """The cluster, the API server or helm failed."""

    exit_code = EXIT_CLUSTER


class UnreachableError(ClusterError):
    """The API server could not be reached at all (connection refused, timed out): no answer, nothing changed."""


class HelmError(ClusterError):
    """The helm binary is missing or a helm command failed."""


class PrivilegeError(FalcoctlError):
    """Missing privilege or unsupported host."""

    exit_code = EXIT_PRIVILEGE
