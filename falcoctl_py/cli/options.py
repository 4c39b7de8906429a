"""The CLI options several commands share, defined once so their spelling, defaults and help stay the same.

Owns: ``output`` (``-o/--output`` with the formats a command offers), ``rules_files`` (``--rules FILE``, repeated
once per file), ``namespace`` (``-n/--namespace``, default ``falco-py``), ``context`` and ``kubeconfig`` (which
cluster, as kubectl spells them). Each returns a click decorator.

Must not: know what a command does with the values, or import anything beyond click.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

Command = Callable[..., Any]
Decorator = Callable[[Command], Command]
DEFAULT_NAMESPACE = "falco-py"


def output(choices: Sequence[str], *, default: str, dest: str = "output", help: str | None = None) -> Decorator:
    """``-o/--output`` limited to ``choices`` (``text`` for people, ``json`` for tools, ...)."""
    return click.option("-o", "--output", dest, type=click.Choice(list(choices)), default=default,
                        show_default=True, help=help)


def rules_files(*, help: str, must_exist: bool = False) -> Decorator:
    """``--rules FILE``, repeated once per file, into ``rules`` (a tuple of paths, in the order given)."""
    kind = click.Path(path_type=Path, exists=True, dir_okay=False) if must_exist else click.Path(path_type=Path)
    return click.option("--rules", "rules", multiple=True, type=kind, metavar="FILE", help=help)


def namespace(*, help: str | None = None) -> Decorator:
    return click.option("-n", "--namespace", default=DEFAULT_NAMESPACE, show_default=True, help=help)


def context(*, help: str = "kubeconfig context (as kubectl --context).") -> Decorator:
    return click.option("--context", default=None, help=help)


def kubeconfig(*, help: str = "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
               path_type: type[str | Path] = str) -> Decorator:
    return click.option("--kubeconfig", default=None, type=click.Path(dir_okay=False, path_type=path_type),
                        help=help)
