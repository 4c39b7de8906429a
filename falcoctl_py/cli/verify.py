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
Each test of the suite files (or directories: their *.yaml files) is run for real: its process chain is
built (executables named as the test says, argv, environment, users created when missing and removed after,
capabilities on the leaf), its before script, resources and syscall steps run in the leaf, and the engine —
started here with the given rules and syscall backend — must raise an alert of the test's rule whose source,
hostname, priority and output fields match every expectedOutcome field. Alerts are tied to tests by an id
in the leaf's environment (proc.env, appended to every alert through append_output).

\b
Per test one line: name, rule, status and, on failure, each expected field with what came instead.
  pass       an alert matched every expected field
  tolerated  it matched only because some fields were missing (<NA>)
  fail       no matching alert within --timeout seconds
  error      the test could not be performed as described (the reason is printed)
  skipped    its runIf condition is false on this host

\b
Everything the run creates (users, files, directories, processes) is removed after each test, also when
it fails or the run is interrupted (SIGINT/SIGTERM). Needs root and a C compiler (the process agent is built
once into ~/.cache/falcoctl-py).

\b
Exit status: 0 all tests passed (skipped ones aside), 1 any other outcome or an invalid suite,
2 usage error, 4 not root, unsupported host, or the backend cannot run here.

\b
Example:
  falcoctl-py verify --suite ./evtgen_suite --rules /etc/falco/falco_rules.yaml --backend audit
"""


@click.command("verify", help=HELP, short_help="Run Falco's syscall suite against the engine on this node.")
@click.option("--suite", "suites", multiple=True, metavar="PATH",
              help="Suite file or directory (repeatable). Default: $FALCOPY_EVTGEN_SUITE.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Rules file the engine loads (repeat once per file, in load order). Required.")
@click.option("--backend", type=click.Choice(["auto", "ebpf", "audit", "proc"]), default="auto", show_default=True,
              help="Syscall backend of the engine (auto: the first that can run here).")
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=5.0, show_default=True,
              help="Seconds to wait for a test's alert after its steps.")
@click.option("--list", "list_only", is_flag=True, help="Load and check the suite, print the concrete tests, run "
              "nothing.")
@click.option("-o", "--output", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(suites: tuple[str, ...], rules: tuple[Path, ...], backend: str, timeout: float, list_only: bool,
            fmt: str) -> None:
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
        click.echo(line)

    try:
        results = Runner(rules=list(rules), backend=backend, timeout=timeout).run(tests, show)
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
