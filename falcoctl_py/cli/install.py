"""``falcoctl-py install``: size from the live cluster, render, diff, helm upgrade --install, watch, verify.

Owns: the kubectl-style cluster flags shared by install/upgrade/rollback/uninstall/status/audit
(``cluster_options``), the confirmation prompt, the rollout progress bar and printing the plan. The steps are
``falcoctl_py.deploy.install``; helm runs through ``make_helm`` (tests replace it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Self

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from falcoctl_py.cli import options
from falcoctl_py.deploy import install as plan
from falcoctl_py.deploy.steps import HelmRunner, Target
from falcoctl_py.errors import ClusterError
from falcoctl_py.k8s import Kube, connect
from falcoctl_py.k8s.rollout import RolloutState
from falcoctl_py.render import dump_manifests, dump_manifests_json


def make_helm() -> HelmRunner:
    from falcoctl_py.helm import Helm

    return Helm()


def make_kube(target: Target) -> Kube:
    return connect(context=target.context, kubeconfig=target.kubeconfig)


def cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    shared: list[options.Decorator] = [
        options.context(),
        options.kubeconfig(),
        options.namespace(),
        click.option("--release", default="falco-py", show_default=True, help="Helm release name."),
    ]
    for opt in reversed(shared):
        fn = opt(fn)
    return fn


def target_of(kw: dict[str, Any]) -> Target:
    return Target(
        release=kw.pop("release"),
        namespace=kw.pop("namespace"),
        context=kw.pop("context"),
        kubeconfig=kw.pop("kubeconfig"),
    )


class RolloutBars:
    """One rich progress bar per DaemonSet (updated pods of desired), on stderr."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[line]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.tasks:  # started on the first rollout event only: nothing is drawn for plans and failures
            self.progress.stop()

    def update(self, st: RolloutState) -> None:
        if not self.tasks:
            self.progress.start()
        if st.name not in self.tasks:
            self.tasks[st.name] = self.progress.add_task(st.name, total=max(st.desired, 1), line="")
        ready_new = min(st.updated, st.ready)
        self.progress.update(
            self.tasks[st.name],
            total=max(st.desired, 1),
            completed=ready_new,
            line=st.line().split(": ", 1)[1],
        )


def print_plan(result: plan.InstallResult, *, output: str, dry_run: bool) -> None:
    err = Console(stderr=True)
    if dry_run:
        click.echo(
            dump_manifests_json(result.manifests) if output == "json" else dump_manifests(result.manifests)
        )
    if result.diff is not None and not result.diff.first_install:
        err.print(result.diff.text(), markup=False, highlight=False, end="")
    for change in result.value_changes:
        err.print(f"value {change}", markup=False, highlight=False)
    if dry_run and result.helm_argv:
        err.print("would run: helm " + " ".join(result.helm_argv), markup=False, highlight=False)


@click.command("install")
@click.option("--profile", default="small", show_default=True, help="Sizing profile (name or file).")
@cluster_options
@click.option("--cost-model", default=None, type=click.Path(exists=True, dir_okay=False))
@click.option("-f", "--values", "values_files", multiple=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--image", default=None, metavar="REGISTRY/REPO[:TAG][@DIGEST]",
              help="Engine image to deploy (kept for later installs); pinned by digest once found in its registry.")
@click.option("--no-image-check", is_flag=True,
              help="Do not check that the image exists in its registry (a registry only the nodes can reach).")
@click.option("--dry-run", is_flag=True, help="Print manifests and the diff; change nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600), help="Seconds.")
@options.output(["yaml", "json"], default="yaml")
def command(**kw: Any) -> None:
    """Install or upgrade the engine, sized for the live cluster."""
    target = target_of(kw)
    opts = plan.InstallOptions(
        target=target,
        profile=kw["profile"],
        cost_model=kw["cost_model"],
        values_files=tuple(kw["values_files"]),
        sets=tuple(kw["sets"]),
        dry_run=kw["dry_run"],
        timeout=float(kw["timeout"]),
        image=kw["image"],
        skip_image_check="--no-image-check" if kw["no_image_check"] else None,
    )
    run_install(target, opts, yes=kw["yes"], output=kw["output"])


def run_install(target: Target, opts: plan.InstallOptions, *, yes: bool, output: str = "yaml") -> None:
    err = Console(stderr=True)
    kube = make_kube(target)
    helm = make_helm()

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            raise ClusterError("confirmation needed but stdin is not a terminal: pass --yes")
        return click.confirm(question, default=False, err=True)

    with RolloutBars() as bars:
        cb = plan.Callbacks(
            say=lambda s: err.print(s, markup=False, highlight=False, soft_wrap=True),
            confirm=confirm,
            on_rollout=bars.update,
            show_plan=lambda r: print_plan(r, output=output, dry_run=opts.dry_run),
        )
        result = plan.plan_and_apply(kube, helm, opts, cb)
    if result.problems:
        raise ClusterError(f"{len(result.problems)} pod(s) unhealthy: {result.problems[0]}")
    if result.applied:
        err.print(f"release {target.release} in {target.namespace}: installed and healthy", markup=False)
