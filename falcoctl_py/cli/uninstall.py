"""``falcoctl-py uninstall``: helm uninstall (asks first unless --yes). The namespace and the webhook TLS Secret
are left in place: they were created outside the release and may hold other things."""

from __future__ import annotations

import sys
from typing import Any

import click

from falcoctl_py.cli import install as install_cli
from falcoctl_py.cli.install import cluster_options, make_kube, target_of
from falcoctl_py.errors import ClusterError
from falcoctl_py.helm import uninstall_args


@click.command("uninstall")
@cluster_options
@click.option("-y", "--yes", is_flag=True)
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600), help="Seconds.")
def command(**kw: Any) -> None:
    """Remove the release from the cluster."""
    target = target_of(kw)
    make_kube(target).server_version()
    if not kw["yes"]:
        if not sys.stdin.isatty():
            raise ClusterError("confirmation needed but stdin is not a terminal: pass --yes")
        if not click.confirm(f"uninstall release {target.release} from {target.namespace}?", err=True):
            raise ClusterError("aborted: not confirmed")
    out = install_cli.make_helm().run(
        uninstall_args(target.release, timeout=float(kw["timeout"]), **target.helm_common())
    )
    click.echo(out.strip() or f"release {target.release} uninstalled")
