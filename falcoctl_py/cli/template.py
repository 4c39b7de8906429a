"""``falcoctl-py template``: render the chart with helm, schema-check every manifest, print YAML. No cluster.

Owns: flag parsing and output for rendering. Rendering is ``falcoctl_py.render``; checks are
``falcoctl_py.validate``. Failed checks go to stderr one per line and the command exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from falcoctl_py.cli import options
from falcoctl_py.cli.values import build_from_options, chart_inputs
from falcoctl_py.errors import FindingsError


@click.command("template")
@chart_inputs
@click.option(
    "--kube-version", default="1.30", show_default=True, help="Kubernetes version to render and check for."
)
@click.option("--release", default="falco-py", show_default=True)
@options.namespace()
@options.output(["yaml", "json"], default="yaml")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write one file per manifest here instead of printing.",
)
def command(
    chart: dict[str, Any],
    kube_version: str,
    release: str,
    namespace: str,
    output: str,
    output_dir: str | None,
) -> None:
    """Render the chart's manifests for a profile and check each against the official schemas."""
    from falcoctl_py.render import dump_manifests, dump_manifests_json, render, write_manifests
    from falcoctl_py.validate import check_manifests

    values = build_from_options(chart)
    docs = render(values, kube_version=kube_version, release=release, namespace=namespace)
    report = check_manifests(docs, kube_version=kube_version)
    for did, why in report.not_checked:
        click.echo(f"not schema-checked: {did} ({why})", err=True)
    if not report.ok:
        for problem in report.errors:
            click.echo(f"invalid: {problem}", err=True)
        raise FindingsError(f"{len(report.errors)} manifest error(s) for Kubernetes {report.kube_version}")
    if output_dir:
        written = write_manifests(docs, Path(output_dir))
        click.echo(f"wrote {len(written)} manifests to {output_dir}; {report.summary()}", err=True)
    else:
        click.echo((dump_manifests_json if output == "json" else dump_manifests)(docs), nl=False)
        click.echo(f"# {report.summary()}", err=True)
