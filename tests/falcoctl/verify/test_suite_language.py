"""The suite language as ``falcoctl-py verify`` loads it: templates, runIf, and errors that name file:line, test
and key — checked on small descriptions written here and on the upstream suite (no root, nothing run)."""

from __future__ import annotations

import platform
import textwrap
from pathlib import Path

import pytest
from cli_support import cli_process
from click.testing import CliRunner

from falcoctl_py.cli.main import cli
from falcoctl_py.verify.model import GOARCH, Binding
from falcoctl_py.verify.suite import SUITE_ENV, load, suite_paths
from falcoctl_py.verify.suite_yaml import SuiteError


def _suite(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_matrix_and_vector_cases_expand_in_order_with_whole_string_values(tmp_path: Path) -> None:
    path = _suite(tmp_path, """\
        tests:
          - name: t
            rule: R
            runner: HostRunner
            context:
              container: %{ item.container }
              processes:
                - name: "%{ item.name }"
                  env: %{ item.env }
            expectedOutcome:
              outputFields:
                proc.name: "x-%{ item.name }"
            cases:
              - strategy: matrix
                values:
                  name: [a, b]
                  container: [null, {image: img, name: c1}]
                  env: [{K: v}]
              - strategy: vector
                values: {name: c, container: null, env: {K: "1"}}
              - strategy: vector
                values: {name: d, container: null, env: {K: "2"}}
        """)
    tests = load([path])
    assert [t.name for t in tests] == [f"t_testCase#{i}" for i in range(6)]
    # matrix: every combination; vector: the i-th value of every key together
    assert [(t.processes[0].name, t.container is not None) for t in tests] == [
        ("a", False), ("a", True), ("b", False), ("b", True), ("c", False), ("d", False)]
    assert tests[1].container is not None and (tests[1].container.image, tests[1].container.name) == ("img", "c1")
    assert [t.processes[0].env for t in tests[4:]] == [{"K": "1"}, {"K": "2"}]
    assert tests[0].expected.output_fields == {"proc.name": "x-a"}  # a placeholder inside a string is text


def test_bindings_and_symbolic_constants_are_typed(tmp_path: Path) -> None:
    path = _suite(tmp_path, """\
        tests:
          - name: t
            rule: R
            runner: HostRunner
            resources:
              - {type: fd, name: f, subtype: file, filePath: /tmp/x}
              - {type: clientServer, name: cs, l4Proto: tcp4, address: "203.0.113.7:80"}
            steps:
              - {type: syscall, name: o, syscall: openat, args: {pathname: /etc/shadow, flags: O_RDONLY|O_CLOEXEC}}
              - {type: syscall, name: d, syscall: dup2, args: {oldFd: "${cs.client.fd}", newFd: 1}}
              - {type: syscall, name: w, syscall: write, args: {fd: "${f.fd}", buffer: hi}}
        """)
    (test,) = load([path])
    assert test.steps[0].args["flags"] == __import__("os").O_RDONLY | __import__("os").O_CLOEXEC
    assert test.steps[1].args["oldFd"] == Binding("cs", "client.fd")
    assert test.steps[2].args["fd"] == Binding("f", "fd")


@pytest.mark.parametrize(("body", "where"), [
    ("    runner: HostRunner\n    colour: red\n", ("s.yaml:6", "test 'bad'", "colour")),
    ("    runner: HostRunner\n    context:\n      processes:\n        - name: x\n          shell: sh\n",
     ("s.yaml:9", "test 'bad'", "context.processes[0].shell")),
    ("    runner: HostRunner\n    steps:\n      - {type: syscall, name: s, syscall: mkdir, args: {}}\n",
     ("s.yaml:7", "test 'bad'", "steps[0].syscall", "unsupported syscall 'mkdir'")),
    ("    runner: HostRunner\n    steps:\n      - {type: syscall, name: s, syscall: dup, args: {oldFd: '${nope.fd}'}}\n",
     ("test 'bad'", "steps[0].args.oldFd", "names no earlier resource")),
    ("    runner: DockerRunner\n", ("s.yaml:5", "runner", "HostRunner")),
    ("    runner: HostRunner\n    context:\n      processes:\n        - capabilities: all=ep\n        - name: y\n",
     ("context.processes[0].capabilities", "only be set on the leaf")),
    ("    runner: HostRunner\n    runIf: {arch: {op: like, val: amd64}}\n", ("runIf.arch.op", "unknown operator")),
])
def test_errors_name_file_line_test_and_key(tmp_path: Path, body: str, where: tuple[str, ...]) -> None:
    path = _suite(tmp_path, "tests:\n  - name: bad\n    rule: R\n    description: d\n" + body)
    with pytest.raises(SuiteError) as caught:
        load([path])
    message = str(caught.value)
    for part in where:
        assert part in message, message


def test_bad_template_is_an_error_naming_the_placeholder(tmp_path: Path) -> None:
    path = _suite(tmp_path, """\
        tests:
          - name: t
            rule: R
            runner: HostRunner
            context:
              processes:
                - name: "%{ item.missing }"
            cases:
              - strategy: matrix
                values:
                  other: [1]
        """)
    with pytest.raises(SuiteError, match=r"s\.yaml:\d+.*missing"):
        load([path])


def test_run_if_decides_per_host_architecture(tmp_path: Path) -> None:
    here = GOARCH.get(platform.machine(), platform.machine())
    path = _suite(tmp_path, f"""\
        tests:
          - {{name: same, rule: R, runner: HostRunner, runIf: {{arch: {{op: eq, val: {here}}}}}}}
          - {{name: other, rule: R, runner: HostRunner, runIf: {{arch: {{op: ne, val: {here}}}}}}}
          - {{name: listed, rule: R, runner: HostRunner, runIf: {{arch: {{op: notIn, val: [{here}, s390x]}}}}}}
        """)
    runs = {t.name: t.should_run() for t in load([path])}
    assert runs["same"] == (True, "")
    assert runs["other"][0] is False and f"arch={here}" in runs["other"][1]
    assert runs["listed"][0] is False


def test_suite_directory_comes_from_the_environment_when_no_path_is_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _suite(tmp_path, "tests:\n  - {name: one, rule: R1, runner: HostRunner}\n", "a.yaml")
    _suite(tmp_path, "tests:\n  - {name: two, rule: R2, runner: HostRunner}\n", "b.yaml")
    monkeypatch.setenv(SUITE_ENV, str(tmp_path))
    assert suite_paths([]) == [tmp_path]
    done = CliRunner().invoke(cli, ["verify", "--list"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == ["one\tR1", "two\tR2"]
    monkeypatch.delenv(SUITE_ENV)
    done = cli_process("verify", "--list")
    assert done.returncode == 2 and SUITE_ENV in done.stderr


def test_an_invalid_suite_exits_1_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = _suite(tmp_path, "tests:\n  - name: t\n    rule: R\n    runner: HostRunner\n    stepz: []\n")
    done = cli_process("verify", "--list", "--suite", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and f"{path}:5" in done.stderr and "stepz" in done.stderr


def test_upstream_suite_loads_to_its_concrete_tests(shared: Path) -> None:
    tests = load([shared / "upstream" / "evtgen_suite"])
    assert len(tests) == 529  # the count the suite's README gives after template expansion
    names = {t.name for t in tests}
    assert "run_shell_untrusted_direct_spawner_testCase#0" in names
    assert sum(t.container is not None for t in tests) == 42
    assert sum(any(r.type == "clientServer" for r in t.resources) for t in tests) == 12


def test_help_reads_like_a_man_page() -> None:
    done = CliRunner().invoke(cli, ["verify", "--help"])
    assert done.exit_code == 0
    for needed in ("--suite", "--backend", "--rules", "FALCOPY_EVTGEN_SUITE", "container", "network namespace",
                   "Exit status", "tolerated"):
        assert needed in done.output, needed
