"""Loading every test of the ``--suite`` paths: files read, templates expanded, each concrete test checked.

Owns: the order tests run in (files in argument order, a directory's files by name, tests as written, cases in
template order), test-name uniqueness across everything loaded together, and reading ``$FALCOPY_EVTGEN_SUITE``
when no path is given.

Must not: run tests or touch the host.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from falcoctl_py.errors import UsageError
from falcoctl_py.verify.model import Test, check
from falcoctl_py.verify.suite_yaml import SuiteError, load_file, suite_files
from falcoctl_py.verify.templates import expand

SUITE_ENV = "FALCOPY_EVTGEN_SUITE"


def suite_paths(given: Iterable[str]) -> list[Path]:
    """The paths to load: those given, else ``$FALCOPY_EVTGEN_SUITE`` (``UsageError`` when neither)."""
    paths = [Path(p) for p in given if p]
    if paths:
        return paths
    env = os.environ.get(SUITE_ENV, "")
    if not env:
        raise UsageError(f"--suite needs a path (or set {SUITE_ENV} to the suite directory)")
    return [Path(p) for p in env.split(os.pathsep) if p]


def load(paths: Iterable[Path]) -> list[Test]:
    """Every concrete test of the suite files and directories, checked (``SuiteError`` on the first problem)."""
    tests: list[Test] = []
    seen: dict[str, Test] = {}
    for path in paths:
        for file in suite_files(path):
            for entry in load_file(file):
                base = entry.get("name")
                if isinstance(base, str) and base in seen and "cases" not in entry:
                    first = seen[base]
                    raise SuiteError(f"test name used twice (first at {first.file}:{first.line})", file=file,
                                     line=entry.line, test=base, key="name")
                for concrete in expand(entry, file):
                    test = check(concrete)
                    if test.name in seen:
                        first = seen[test.name]
                        raise SuiteError(f"test name used twice (first at {first.file}:{first.line})", file=file,
                                         line=entry.line, test=test.name, key="name")
                    seen[test.name] = test
                    tests.append(test)
    return tests
