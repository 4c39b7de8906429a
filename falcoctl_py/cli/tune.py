"""``falcoctl-py tune``: measure engine overhead and rule noise, propose exceptions and limits, verify, report.

Owns: the flags and the terminal presentation (progress while measuring, a one-screen summary after). The window,
the analysis and the files are ``falcoctl_py.tuning``'s.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from falcoctl_py.cli import options
from falcoctl_py.errors import UsageError


def _default_rules() -> list[Path]:
    import engine

    folder = Path(engine.__file__).resolve().parent / "default_rules"
    return sorted(folder.glob("*.yaml"))


def _syscall_sample() -> Path:
    from importlib import resources

    return Path(str(resources.files("falcoctl_py").joinpath("data/syscall-sample.jsonl")))


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds", ctx=ctx, param=param)
    return value


@click.command("tune")
@click.option("--local", "local", is_flag=True, help="Run the bundled engine on this machine.")
@click.option("--duration", type=click.FloatRange(min=5, max=86400), default=60.0, show_default=True,
              callback=_finite, help="Measurement window in seconds.")
@options.rules_files(help="Base rules file (repeat per file; default: the engine's bundled rules).", must_exist=True)
@click.option("--profile", default="medium", show_default=True, help="Sizing profile for values and manifests.")
@click.option("--audit-events", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Audit events to feed (Event, EventList or JSON lines); default: a generated stream.")
@click.option("--audit-rate", type=click.FloatRange(min=1), default=2000.0, show_default=True,
              help="Audit events per second fed to the engine (--local).")
@click.option("--live", is_flag=True, help="Use the live syscall source instead of the recorded stream (root).")
@click.option("--allow-unguarded", is_flag=True,
              help="Accept exceptions for rules no guard scenario or counterfactual covers (flagged UNGUARDED).")
@click.option("--guard", "guard_files", multiple=True, type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Your own recorded attacks (corpus YAML, audit events or a syscall recording); every one must "
                   "keep firing. Repeat per file.")
@options.context(help="Kubeconfig context (in-cluster mode).")
@options.kubeconfig(help="Kubeconfig file (in-cluster mode).", path_type=Path)
@options.namespace(help="Engine namespace (in-cluster).")
@click.option("--apply", is_flag=True, help="In-cluster: push accepted proposals and resources, then re-measure.")
@click.option("--max-iterations", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Directory for the report, cost model, tuned rules, values and manifests.")
@options.output(["text", "json"], default="text", dest="fmt")
def command(local: bool, duration: float, rules: tuple[Path, ...], profile: str, audit_events: Path | None,
            audit_rate: float, live: bool, allow_unguarded: bool, guard_files: tuple[Path, ...],
            context: str | None, kubeconfig: Path | None, namespace: str, apply: bool, max_iterations: int,
            out_dir: Path, fmt: str) -> None:
    """Measure overhead and noise, propose exceptions and limits, prove nothing is lost."""
    from falcoctl_py.tuning.analysis import Options

    rule_files = list(rules) or _default_rules()
    if not rule_files:
        raise UsageError("no --rules given and no bundled default rules found")
    from falcoctl_py.cli.engine import load_ruleset
    from falcoctl_py.profiles import load_profile

    # Everything that can be wrong with the input fails now, not after the measurement window.
    load_profile(profile)
    load_ruleset(rule_files, rule_matching="first")  # prints every finding with file:line:col, exit 1
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from None
    if allow_unguarded:
        click.echo("WARNING: --allow-unguarded: exceptions nothing checked will be accepted; each is flagged "
                   "UNGUARDED in the report. Review them before loading the override.", err=True)
    from falcoctl_py.tuning.guard import user_guard

    for f in guard_files:
        user_guard(f)  # a bad guard file fails now, with its name, not after the window
    opts = Options(rules=tuple(rule_files), profile=profile, allow_unguarded=allow_unguarded,
                   guard_files=tuple(guard_files))
    if local:
        if apply or context or kubeconfig:
            raise UsageError("--local runs on this machine: --apply, --context and --kubeconfig are for "
                             "in-cluster tuning")
        from falcoctl_py.tuning.runner import run_local

        doc = run_local(opts, out_dir=out_dir, duration=duration, audit_events=audit_events,
                        audit_rate=audit_rate, live=live, syscall_sample=_syscall_sample(), quiet=fmt == "json")
    else:
        from falcoctl_py.tuning.runner import run_cluster

        doc = run_cluster(opts, out_dir=out_dir, duration=duration, context=context, kubeconfig=kubeconfig,
                          namespace=namespace, apply=apply, max_iterations=max_iterations, quiet=fmt == "json")
    if fmt == "json":
        import orjson

        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        from falcoctl_py.tuning.runner import print_summary

        print_summary(doc, out_dir=out_dir)
