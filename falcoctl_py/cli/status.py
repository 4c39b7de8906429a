"""``falcoctl-py status``: per pool/DaemonSet desired and ready pods; per pod engine version, rules checksum
and drops (pod-proxy metrics). Exit 1 when not every pod is ready or the pods disagree on the rules."""

from __future__ import annotations

from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from falcoctl_py.cli import options
from falcoctl_py.cli.install import cluster_options, make_kube, target_of
from falcoctl_py.deploy import status as collect_status
from falcoctl_py.errors import FindingsError


@click.command("status")
@cluster_options
@options.output(["table", "json"], default="table")
def command(**kw: Any) -> None:
    """Show per-pool engine status."""
    target = target_of(kw)
    st = collect_status.collect(make_kube(target), target)
    if kw["output"] == "json":
        click.echo(orjson.dumps(st.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        table = Table("pool", "daemonset", "ready", "pod", "node", "engine", "rules", "drops")
        for ds in st.daemonsets:
            for i, p in enumerate(ds.pods or [None]):  # type: ignore[list-item]
                head = (ds.pool, ds.name, f"{ds.ready}/{ds.desired}") if i == 0 else ("", "", "")
                if p is None:
                    table.add_row(*head, "-", "-", "-", "-", "-")
                    continue
                table.add_row(
                    *head,
                    p.name + ("" if p.ready else " (not ready)"),
                    p.node or "-",
                    p.engine_version or "-",
                    (p.rules_checksum or "-")[:12],
                    p.error or ("-" if p.drops is None else f"{p.drops:g}"),
                )
        console = Console()
        if not console.is_terminal:  # piped: do not squeeze the checksum column to the 80-column default
            console = Console(width=200)
        console.print(table)
    if not st.healthy:
        raise FindingsError(
            "release not healthy: pods not ready, unreadable metrics or differing rules checksums"
        )
