"""``falcoctl-py audit setup``: print or write the API server audit policy and the audit webhook kubeconfig."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from falcoctl_py.cli.install import cluster_options, make_kube, target_of
from falcoctl_py.deploy import audit_setup
from falcoctl_py.errors import UsageError


@click.group("audit")
def group() -> None:
    """Kubernetes audit configuration helpers."""


@group.command("setup")
@cluster_options
@click.option(
    "--write",
    "write_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Write audit-policy.yaml and audit-webhook.kubeconfig here instead of printing.",
)
def setup(write_dir: Path | None, **kw: Any) -> None:
    """Audit policy + webhook kubeconfig for --audit-policy-file / --audit-webhook-config-file."""
    target = target_of(kw)
    policy = audit_setup.dump(audit_setup.audit_policy())
    kubeconfig = audit_setup.dump(audit_setup.webhook_kubeconfig(make_kube(target), target))
    click.echo(audit_setup.MANAGED_NOTE, err=True)
    if write_dir is None:
        click.echo(
            "# audit-policy.yaml (kube-apiserver --audit-policy-file)\n" + policy + "---\n"
            "# audit-webhook.kubeconfig (kube-apiserver --audit-webhook-config-file)\n" + kubeconfig,
            nl=False,
        )
        return
    try:
        write_dir.mkdir(parents=True, exist_ok=True)
        (write_dir / "audit-policy.yaml").write_text(policy)
        (write_dir / "audit-webhook.kubeconfig").write_text(kubeconfig)
        (write_dir / "audit-webhook.kubeconfig").chmod(0o600)
    except OSError as exc:
        raise UsageError(f"--write {write_dir}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {write_dir / 'audit-policy.yaml'} and {write_dir / 'audit-webhook.kubeconfig'}")
