"""Drive a whole tuning run — local window or in-cluster scrape — and present its summary.

Owns: putting ``local``/``cluster`` measurement and ``analysis`` together, the accuracy and self-cost figures, and
the one-screen summary. Progress and tables are drawn with rich on stderr/stdout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from falcoctl_py.errors import ClusterError
from falcoctl_py.tuning.analysis import Options, analyse, read_alerts, window_events, write_outputs

SYSCALL_REPLAY_RATE = 500.0  # events/s of the recorded syscall stream in a local window


def run_local(opts: Options, *, out_dir: Path, duration: float, audit_events: Path | None, audit_rate: float,
              live: bool, syscall_sample: Path | None, quiet: bool = False) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from falcoctl_py.tuning.local import IDLE_SECONDS, require_root_for_live, run_window

    if live:
        require_root_for_live()
        syscall: dict[str, Any] | None = {"backend": "auto"}
    elif syscall_sample is not None and syscall_sample.exists():
        # starts after the idle measurement, so the idle baseline is idle
        syscall = {"backend": "replay", "path": str(syscall_sample), "loop": True, "rate": SYSCALL_REPLAY_RATE,
                   "start_after": IDLE_SECONDS + 1.5}
    else:
        syscall = None
    console = Console(stderr=True, quiet=quiet)
    with Progress(TextColumn("[bold]measuring[/]"), BarColumn(), TextColumn("{task.description}"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting the engine", total=duration)

        def progress(elapsed: float, sample: Any) -> None:
            desc = ""
            if sample is not None:
                desc = (f"RSS {sample.rss_bytes / 2**20:.0f} MiB, "
                        f"{sum(sample.events.values()):,.0f} events, {sum(sample.matches.values()):,.0f} alerts")
            bar.update(task, completed=elapsed, description=desc)

        window = run_window(out_dir=out_dir, rules=opts.rules, duration=duration, audit_events=audit_events,
                            audit_rate=audit_rate, syscall=syscall, progress=progress)
    console.print("analysing: noise, proposals, guard replay, before/after replay …")
    alerts = read_alerts(window.alerts_path)
    paths = {"k8s_audit": window.audit_events_path}
    if window.syscall_events_path is not None and not live:
        paths["syscall"] = window.syscall_events_path
    events = window_events(paths, window.samples[-1].events if window.samples else {})
    doc, screened, cost = analyse(samples=window.samples, idle_cpu_cores=window.idle_cpu_cores,
                                  idle_rss_bytes=window.idle_rss_bytes, duration=window.duration,
                                  alerts=alerts, events=events, opts=opts, mode="local")
    if window.independent_cpu_seconds:
        doc["accuracy"] = {
            "engine_cpu_seconds": window.engine_cpu_seconds,
            "independent_cpu_seconds": window.independent_cpu_seconds,
            "method": window.independent_method,
            "relative_error": window.engine_cpu_seconds / window.independent_cpu_seconds - 1.0,
        }
    doc["tuner_overhead"] = {"cpu_seconds": window.tuner_cpu_seconds,
                             "fraction_of_core": window.tuner_cpu_seconds / max(window.duration, 1e-9),
                             "what": "CPU time of the sampling thread (scrape, parse, cgroup read) over the window"}
    doc["feed"] = window.fed
    write_outputs(doc, screened, cost, out_dir=out_dir, profile=opts.profile)
    return doc


def run_cluster(opts: Options, *, out_dir: Path, duration: float, context: str | None, kubeconfig: Path | None,
                namespace: str, apply: bool, max_iterations: int, quiet: bool = False) -> dict[str, Any]:
    try:
        from falcoctl_py.tuning.cluster import run_cluster as _run
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("falcoctl_py"):
            raise ClusterError("in-cluster tuning needs the cluster client module, which this build lacks") \
                from None
        raise
    return _run(opts, out_dir=out_dir, duration=duration, context=context, kubeconfig=kubeconfig,
                namespace=namespace, apply=apply, max_iterations=max_iterations, quiet=quiet)


def print_summary(doc: dict[str, Any], *, out_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from falcoctl_py.tuning.report import summary_rows

    console = Console()
    table = Table(title="falcoctl-py tune", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary_rows(doc):
        table.add_row(label, value)
    console.print(table)
    top = Table(title="noisiest rules (alerts in the window)", title_justify="left")
    for col in ("rule", "before", "after", "explained by"):
        top.add_column(col, justify="right" if col in ("before", "after") else "left")
    per_rule = doc["verification"]["per_rule"]
    refused = {p["rule"]: p["refused_because"][0] for p in doc["proposals"]
               if p["kind"] == "exception" and not p["accepted"] and p["refused_because"]}
    proposed = {p["rule"] for p in doc["proposals"]}
    for r in doc["noise"]["rules"][:8]:
        expl = "; ".join(", ".join(f"{f}={v}" for f, v in zip(e["fields"], e["values"]))
                         for e in r["explanations"]) or "no dominant value"
        if r["rule"] in refused:
            expl += f" — refused: {refused[r['rule']]}"
        elif r["explanations"] and r["rule"] not in proposed:
            expl += " — too few alerts to propose"
        b, a = per_rule.get(r["rule"], [r["count"], r["count"]])
        top.add_row(r["rule"], str(b), str(a), expl)
    console.print(top)
    rel = os.path.relpath(out_dir)
    console.print(f"written to {rel}/: report.html, report.md, report.json, tuned-rules.yaml, cost-model.json, "
                  "values.yaml, manifests.yaml")
