"""``falcoctl-py verify``: run Falco's declarative syscall suite against the engine on this node.

Owns: the command's flags, help text and report (one line per concrete test and a summary, as text or JSON)
and its exit code: 0 when every test that ran passed, 1 when any failed, was only tolerated or could not run,
2 for usage errors, 4 when the host or privileges do not allow the run.

Must not: load suites, run tests or match alerts itself (``falcoctl_py.verify`` does).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import click
import orjson

from falcoctl_py.errors import EXIT_FINDINGS, UsageError

HELP = """Run the event-generator's declarative syscall suite on this node and check the engine's alerts.

\b
The suite is Falco's own detection test language (the files of Falco's e2e_tests/evtgen_suite, or any
written in it). verify starts the bundled engine here with the given rules and syscall backend, then
performs every concrete test of the suite files (directories: their *.yaml files) for real, up to
--jobs at a time (tests that touch the same host path never together; results in suite order):
  1. builds the process chain: a copy of a small agent per process, named, placed (exePath) and run
     with the argv, environment and user the test gives (users are created when missing and removed
     after the run), the leaf with the test's capabilities;
  2. runs the before script, creates the resources (fd files and directories, pipes, eventfd, signalfd,
     epoll, inotify, memfd, child processes, fileless ones from a memfd, clientServer socket pairs),
     issues the syscall steps in the leaf, runs the after script;
  3. waits for an alert of the test's rule whose source, hostname, priority and output fields match every
     expectedOutcome field. Alerts are tied to tests by an id in the leaf's environment (proc.env,
     appended to every alert through append_output).

\b
A test with context.container runs in a container made without a container runtime: new mount, pid,
uts, ipc and network namespaces, an overlayfs root over the host's / (image and upper layers in a
directory on /dev/shm), a containerd-style pod cgroup, and an OCI bundle (CRI annotations with the
test's name and image; privileged, as the event-generator's containers are) under a state root the
engine reads as it reads containerd's. A test with clientServer resources gets a network namespace of
its own with the test's addresses on its loopback, so addresses such as 203.0.113.0/24 work without
touching the host's network.

\b
Per test one line: name, rule, status and, on failure, each expected field with what came instead.
  pass       an alert matched every expected field
  tolerated  it matched only because some fields were missing (<NA>)
  fail       no matching alert once the engine had seen all the test's events (or after --timeout)
  error      the test could not be performed as described (the reason is printed)
  skipped    its runIf condition is false on this host
A test ends as soon as it passed or the engine reported verify's barrier process, executed after the
test's steps (alerts come in event order), so failures cost no waiting.

\b
Everything the run creates (users, files, directories, processes, namespaces, mounts, cgroups, bundles)
is removed after each test, also when it fails or the run is interrupted (SIGINT/SIGTERM); anything that
could not be removed is printed. Needs root, x86_64 and a C compiler (the agent is built once into
~/.cache/falcoctl-py, or $FALCOPY_CACHE_DIR); container tests need cgroup2 and overlayfs, clientServer
tests with non-loopback addresses the ip command.

\b
Environment:
  FALCOPY_EVTGEN_SUITE  suite directory (or ':'-separated paths) used when no --suite is given

\b
Exit status: 0 all tests passed (skipped ones aside), 1 any other outcome or an invalid suite (the
error names file:line, test and key), 2 usage error, 4 not root, unsupported host, or the backend
cannot run here.

\b
Examples:
  falcoctl-py verify --suite ./evtgen_suite --rules /etc/falco/falco_rules.yaml --backend ebpf
  FALCOPY_EVTGEN_SUITE=./evtgen_suite falcoctl-py verify --rules falco_rules.yaml -o json
  falcoctl-py verify --list --suite ./evtgen_suite
"""


@click.command("verify", help=HELP, short_help="Run Falco's syscall suite against the engine on this node.")
@click.option("--suite", "suites", multiple=True, metavar="PATH",
              help="Suite file or directory (repeatable). Default: $FALCOPY_EVTGEN_SUITE.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Rules file the engine loads (repeat once per file, in load order). Required.")
@click.option("--backend", type=click.Choice(["auto", "ebpf", "audit", "proc"]), default="auto", show_default=True,
              help="Syscall backend of the engine (auto: the first that can run here).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Longest wait for a test's alert after its steps (the wait normally ends earlier, once the "
              "engine has seen the test's events).")
@click.option("--jobs", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Tests run side by side (never two that touch the same host path).")
@click.option("--list", "list_only", is_flag=True, help="Load and check the suite, print the concrete tests, run "
              "nothing.")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(suites: tuple[str, ...], rules: tuple[Path, ...], backend: str, timeout: float, jobs: int,
            list_only: bool, fmt: str) -> None:
    from falcoctl_py.verify.suite import load, suite_paths

    tests = load(suite_paths(suites))
    if list_only:
        for test in tests:
            click.echo(f"{test.name}\t{test.rule}")
        return
    if not rules:
        raise UsageError("--rules is required (the engine's ruleset, e.g. Falco's falco_rules.yaml)")
    from falcoctl_py.verify.runner import Result, Runner

    started = time.monotonic()

    def show(result: Result) -> None:
        if fmt != "text":
            return
        v = result.verdict
        line = f"{v.status.upper():9} {result.test.name}  [{result.test.rule}]"
        if v.detail:
            line += f"  {v.detail}"
        for key, want, got in v.mismatches:
            line += f"\n          {key}: expected {want!r}, got {got!r}"
        for note in result.steps:
            if note.startswith("not removed"):
                line += f"\n          {note}"
        click.echo(line)

    try:
        results = Runner(rules=list(rules), backend=backend, timeout=timeout, jobs=jobs).run(tests, show)
    except KeyboardInterrupt:
        click.echo("interrupted: everything created was removed", err=True)
        sys.exit(130)
    counts = Counter(r.verdict.status for r in results)
    elapsed = time.monotonic() - started
    if fmt == "json":
        doc = {"backend": backend, "seconds": round(elapsed, 1), "summary": dict(counts),
               "tests": [{"name": r.test.name, "rule": r.test.rule, "status": r.verdict.status,
                          "detail": r.verdict.detail, "file": str(r.test.file), "case": r.test.case,
                          "mismatches": [{"field": k, "expected": w, "got": g} for k, w, g in r.verdict.mismatches],
                          "steps": r.steps, "seconds": round(r.seconds, 3)} for r in results]}
        click.echo(orjson.dumps(doc, default=str).decode())
    else:
        parts = ", ".join(f"{counts[s]} {s}" for s in ("pass", "tolerated", "fail", "error", "skipped") if counts[s])
        click.echo(f"{len(results)} tests in {elapsed:.1f}s: {parts or 'none'}")
    if any(r.verdict.status not in ("pass", "skipped") for r in results):
        sys.exit(EXIT_FINDINGS)
