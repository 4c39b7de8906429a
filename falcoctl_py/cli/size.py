"""``falcoctl-py size``: per-pool requests and limits for a profile or a live cluster, in a chosen format.

Owns: flag parsing and choosing pools (profile, or the cluster's via ``falcoctl_py.k8s.cluster_facts``, imported
lazily). Sizing is ``falcoctl_py.sizing``; formats come from the ``falcoctl_py.report`` registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from falcoctl_py.cli import options
from falcoctl_py.errors import ClusterError


def _cluster(context: str, kubeconfig: str | None) -> Any:
    try:
        from falcoctl_py.k8s import cluster_facts
    except ImportError as exc:
        raise ClusterError(
            "reading pools from a cluster is not available in this build "
            "(falcoctl_py.k8s.cluster_facts missing); use --profile"
        ) from exc
    return cluster_facts(context=context, kubeconfig=kubeconfig)


@click.command("size")
@click.option(
    "--profile",
    default=None,
    metavar="NAME|FILE",
    help="Profile giving pools, event rates and policy (default: small).",
)
@click.option(
    "--context",
    default=None,
    help="Take the pools from this kube context's cluster (rates and policy still from --profile).",
)
@options.kubeconfig()
@click.option(
    "--cost-model",
    "cost_model",
    default=None,
    type=click.Path(dir_okay=False),
    help="Cost-model file from `falcoctl-py tune`; default: the shipped one.",
)
@click.option("--strategy", default=None, metavar="NAME", help="Sizing strategy instead of the profile's.")
@click.option(
    "-o",
    "--output",
    "output",
    default="table",
    show_default=True,
    help="table|json|yaml|csv|markdown|html (any registered report format).",
)
def command(
    profile: str | None,
    context: str | None,
    kubeconfig: str | None,
    cost_model: str | None,
    strategy: str | None,
    output: str,
) -> None:
    """Report CPU/memory requests and limits per node pool, with the reason behind each number."""
    from falcoctl_py import report
    from falcoctl_py.cost_model import load_cost_model
    from falcoctl_py.profiles import load_profile
    from falcoctl_py.report.document import sizing_document
    from falcoctl_py.sizing import size_profile
    from falcoctl_py.values import apply_cluster

    formatter = report.get(output)  # refuse a bad format before any work
    prof = load_profile(profile or "small")
    if strategy:
        prof = dataclasses.replace(prof, sizing=dataclasses.replace(prof.sizing, strategy=strategy))
    if context:
        prof, _ = apply_cluster(prof, _cluster(context, kubeconfig))
    result = size_profile(prof, load_cost_model(cost_model))
    click.echo(formatter(sizing_document(result)), nl=False)
