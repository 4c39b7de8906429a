"""``falcoctl-py upgrade``: engine upgrade through helm (diff, rollback on failure) or a rules-only update.

Owns: flag parsing and output. ``--engine-version`` re-runs the install steps with ``image.tag`` set (the image
preflight resolves and pins the new tag) and the profile the last install stored; ``--rules`` goes through
``falcoctl_py.deploy.rules_upgrade`` (ConfigMap only, no pod restart). A ``--rules oci://REF`` is a Falco
rulesfile artifact, pulled (engine requirement checked) into a scratch directory first.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from falcoctl_py.cli.install import cluster_options, make_kube, run_install, target_of
from falcoctl_py.cli.rules_oci import write_files
from falcoctl_py.deploy import install as plan
from falcoctl_py.deploy import rules_upgrade
from falcoctl_py.deploy.steps import Target
from falcoctl_py.errors import UsageError
from falcoctl_py.registry import Access, access_from, parse_ref, registry_errors, registry_options


@click.command("upgrade")
@cluster_options
@click.option("--engine-version", default=None, help="Engine image tag to roll out.")
@click.option(
    "--rules",
    "rules",
    multiple=True,
    metavar="FILE|oci://REF",
    help="Rules file, or a Falco rulesfile OCI artifact, for the rules ConfigMap (repeatable); replaces the set.",
)
@click.option("--profile", default=None, help="Sizing profile (default: the one the last install used).")
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; change nothing.")
@click.option("-y", "--yes", is_flag=True)
@click.option("--timeout", default=300, show_default=True, type=click.IntRange(10, 3600), help="Seconds.")
@registry_options
def command(**kw: Any) -> None:
    """Upgrade the engine image or its rules."""
    target = target_of(kw)
    access = access_from(kw)
    if bool(kw["engine_version"]) == bool(kw["rules"]):
        raise UsageError("upgrade needs exactly one of --engine-version or --rules")
    err = Console(stderr=True)
    if kw["rules"]:
        with tempfile.TemporaryDirectory(prefix="falcoctl-rules-") as tmp:
            say = lambda s: err.print(s, markup=False, highlight=False, soft_wrap=True)
            files = _rule_files(kw["rules"], Path(tmp), access, say=say)
            _upgrade_rules(kw, target, files, err)
        return
    profile = kw["profile"] or plan.stored_profile(make_kube(target), target)
    if not profile:
        raise UsageError(f"no stored profile for release {target.release}: pass --profile")
    opts = plan.InstallOptions(
        target=target,
        profile=profile,
        sets=(f"image.tag={kw['engine_version']}", "image.digest="),  # the new tag is resolved and pinned
        dry_run=kw["dry_run"],
        timeout=float(kw["timeout"]),
    )
    run_install(target, opts, yes=kw["yes"])


def _rule_files(specs: tuple[str, ...], tmp: Path, access: Access, *, say: Callable[[str], None]) -> list[Path]:
    """Local paths as given; each ``oci://REF`` pulled (engine requirement checked) into its own directory."""
    from engine.oci import rulesfile

    out: list[Path] = []
    for i, spec in enumerate(specs):
        if not spec.startswith("oci://"):
            path = Path(spec)
            if not path.is_file():
                raise UsageError(f"--rules {spec}: no such file")
            out.append(path)
            continue
        ref = parse_ref(spec)
        with registry_errors():
            artifact = rulesfile.read_artifact(access.client(ref.registry), ref)
            rulesfile.check_engine_requirement(artifact, where=str(ref))
        pulled = write_files(artifact.files, tmp / str(i), validate=False)
        say(f"pulled {ref.registry}/{ref.repository}@{artifact.digest}: {', '.join(p.name for p in pulled)}")
        out += sorted(p for p in pulled if p.suffix in (".yaml", ".yml"))
    names = [p.name for p in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UsageError(f"two rules files are named {dup!r}: the ConfigMap holds one file per name")
    return out


def _upgrade_rules(kw: dict[str, Any], target: Target, files: list[Path], err: Console) -> None:
    rules_upgrade.validate_rules(files)  # a bad rules file is a finding; no cluster needed
    result = rules_upgrade.upgrade_rules(
        make_kube(target),
        target,
        files,
        dry_run=kw["dry_run"],
        timeout=float(kw["timeout"]),
        say=lambda s: err.print(s, markup=False, highlight=False),
    )
    verb = "would replace" if kw["dry_run"] else "replaced"
    click.echo(
        f"configmap {result.configmap}: {verb} {', '.join(result.previous_files) or '(empty)'} "
        f"with {', '.join(p.name for p in files)}; checksum {result.checksum}"
    )
