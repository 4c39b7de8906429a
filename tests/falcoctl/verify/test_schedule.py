"""Which tests may run side by side: writes below a missing directory claim the directory the runner makes."""

from __future__ import annotations

import textwrap
from pathlib import Path

from falcoctl_py.verify.model import Test as SuiteTest
from falcoctl_py.verify.schedule import claims, conflict
from falcoctl_py.verify.suite import load


def _file_tests(tmp_path: Path, *paths: Path) -> list[SuiteTest]:
    entries = "".join(f"""
          - name: t{i}
            rule: R
            runner: HostRunner
            resources:
              - {{type: fd, name: f, subtype: file, filePath: {p}}}
        """ for i, p in enumerate(paths))
    suite = tmp_path / "s.yaml"
    suite.write_text(textwrap.dedent("tests:" + entries))
    return load([suite])


def test_files_in_one_missing_directory_conflict_over_it(tmp_path: Path) -> None:
    missing = tmp_path / "made" / "deeper"
    a, b = _file_tests(tmp_path, missing / "a.log", missing / "b.log")
    assert claims(a).writes == {str(tmp_path / "made")}
    assert conflict(claims(a), claims(b))


def test_files_in_an_existing_directory_do_not_conflict(tmp_path: Path) -> None:
    a, b = _file_tests(tmp_path, tmp_path / "a.log", tmp_path / "b.log")
    assert claims(a).writes == {str(tmp_path / "a.log")}
    assert not conflict(claims(a), claims(b))
