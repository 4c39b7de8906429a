"""``falcoctl-py upgrade``: engine upgrade through helm (diff, rollback on failure) or a rules-only update.

Owns: flag parsing and output. ``--engine-version`` re-runs the install steps with ``image.tag`` set and the
profile the last install stored; ``--rules`` goes through ``falcoctl_py.deploy.rules_upgrade`` (ConfigMap only,
no pod restart).
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from falcoctl_py.cli import options
from falcoctl_py.cli.install import cluster_options, make_kube, run_install, target_of
from falcoctl_py.deploy import install as plan
from falcoctl_py.deploy import rules_upgrade
from falcoctl_py.errors import UsageError


@click.command("upgrade")
@cluster_options
@click.option("--engine-version", default=None, help="Engine image tag to roll out.")
@options.rules_files(help="Rules file for the rules ConfigMap (repeatable); replaces the current set.",
                     must_exist=True)
@click.option("--profile", default=None, help="Sizing profile (default: the one the last install used).")
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; change nothing.")
@click.option("-y", "--yes", is_flag=True)
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600), help="Seconds.")
def command(**kw: Any) -> None:
    """Upgrade the engine image or its rules."""
    target = target_of(kw)
    if bool(kw["engine_version"]) == bool(kw["rules"]):
        raise UsageError("upgrade needs exactly one of --engine-version or --rules")
    err = Console(stderr=True)
    if kw["rules"]:
        rules_upgrade.validate_rules(list(kw["rules"]))  # a bad rules file is a finding; no cluster needed
        result = rules_upgrade.upgrade_rules(
            make_kube(target),
            target,
            list(kw["rules"]),
            dry_run=kw["dry_run"],
            timeout=float(kw["timeout"]),
            say=lambda s: err.print(s, markup=False, highlight=False),
        )
        verb = "would replace" if kw["dry_run"] else "replaced"
        click.echo(
            f"configmap {result.configmap}: {verb} {', '.join(result.previous_files) or '(empty)'} "
            f"with {', '.join(p.name for p in kw['rules'])}; checksum {result.checksum}"
        )
        return
    profile = kw["profile"] or plan.stored_profile(make_kube(target), target)
    if not profile:
        raise UsageError(f"no stored profile for release {target.release}: pass --profile")
    opts = plan.InstallOptions(
        target=target,
        profile=profile,
        sets=(f"image.tag={kw['engine_version']}",),
        dry_run=kw["dry_run"],
        timeout=float(kw["timeout"]),
    )
    run_install(target, opts, yes=kw["yes"])
