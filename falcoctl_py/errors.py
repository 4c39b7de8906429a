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


def parse_error_where(path: object, exc: BaseException, raw: bytes | None = None) -> tuple[str, str]:
    """``("PATH:LINE:COL", problem)`` (1-based) from a YAML or JSON parse error, for a one-line message.

    YAML errors carry ``problem_mark`` (0-based line/column) or, from the reader, a ``position`` offset into
    ``raw``; JSON errors (``json``/``orjson``) carry ``lineno``/``colno``. Without a position: ``("PATH", problem)``.
    """
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or first
        return f"{path}:{mark.line + 1}:{mark.column + 1}", str(problem)
    lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if isinstance(lineno, int) and isinstance(colno, int):
        return f"{path}:{lineno}:{colno}", str(getattr(exc, "msg", None) or first)
    pos = getattr(exc, "position", None)
    if isinstance(pos, int) and raw is not None and 0 <= pos <= len(raw):
        line, column = raw.count(b"\n", 0, pos) + 1, pos - raw.rfind(b"\n", 0, pos)
        return f"{path}:{line}:{column}", first
    return str(path), first
