"""``falcoctl-py rollback [REVISION]``: helm rollback, then wait for the DaemonSets to roll back out."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from falcoctl_py.cli import install as install_cli
from falcoctl_py.cli.install import RolloutBars, cluster_options, make_kube, target_of
from falcoctl_py.helm import rollback_args
from falcoctl_py.k8s import objects, rollout


@click.command("rollback")
@click.argument("revision", required=False, type=click.IntRange(min=1))
@cluster_options
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600), help="Seconds.")
def command(revision: int | None, **kw: Any) -> None:
    """Roll the release back to REVISION (default: the previous one)."""
    target = target_of(kw)
    kube = make_kube(target)
    kube.server_version()  # fail early, one line, when the cluster is unreachable
    argv = rollback_args(target.release, revision, timeout=float(kw["timeout"]), **target.helm_common())
    install_cli.make_helm().run(argv)
    with RolloutBars() as bars:
        for ds in objects.list_daemonsets(kube, target.namespace, instance=target.release):
            rollout.wait_rollout(
                kube,
                target.namespace,
                ds.metadata.name,
                timeout=float(kw["timeout"]),
                on_progress=bars.update,
            )
    Console(stderr=True).print(
        f"release {target.release} rolled back to {revision or 'the previous revision'}", markup=False
    )
