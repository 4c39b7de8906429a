"""``falcoctl-py netpol``: print only the NetworkPolicy manifests the chart renders for a profile.

Owns: filtering the rendered manifests; it never writes a policy by hand (the chart is the source of truth).
"""

from __future__ import annotations

from typing import Any

import click

from falcoctl_py.cli import options
from falcoctl_py.cli.values import build_from_options, chart_inputs
from falcoctl_py.errors import FindingsError


@click.command("netpol")
@chart_inputs
@click.option("--kube-version", default="1.30", show_default=True)
@click.option("--release", default="falco-py", show_default=True)
@options.namespace()
@options.output(["yaml", "json"], default="yaml")
def command(
    chart: dict[str, Any],
    kube_version: str,
    release: str,
    namespace: str,
    output: str,
) -> None:
    """Print the engine's NetworkPolicies (DNS, API server and sink egress; metrics and webhook ingress)."""
    from falcoctl_py.render import dump_manifests, dump_manifests_json, render
    from falcoctl_py.validate import check_manifests

    values = build_from_options(chart)
    docs = [
        d
        for d in render(values, kube_version=kube_version, release=release, namespace=namespace)
        if d.get("kind") == "NetworkPolicy"
    ]
    if not docs:
        raise FindingsError("the chart rendered no NetworkPolicy (networkPolicy.enabled is false?)")
    report = check_manifests(docs, kube_version=kube_version)
    if not report.ok:
        for problem in report.errors:
            click.echo(f"invalid: {problem}", err=True)
        raise FindingsError(
            f"{len(report.errors)} NetworkPolicy error(s) for Kubernetes {report.kube_version}"
        )
    click.echo((dump_manifests_json if output == "json" else dump_manifests)(docs), nl=False)
