"""``falcoctl-py values``: print the chart values sized for a profile (and the shared chart-input options).

Owns: the ``--profile/-f/--set/--cost-model`` options every offline chart command shares (``chart_inputs``) and
the ``values`` command. Building the values is ``falcoctl_py.values``' job; this module only parses flags and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def chart_inputs(func: F) -> F:
    """Decorator adding the options that feed ``build_values``."""
    for opt in reversed(
        [
            click.option(
                "--profile",
                "profile",
                default="small",
                show_default=True,
                metavar="NAME|FILE",
                help="Profile name (small, medium, large, audit-only) or a profile YAML file.",
            ),
            click.option(
                "-f",
                "--values",
                "values_files",
                multiple=True,
                type=click.Path(dir_okay=False),
                help="Chart values file applied on top (repeatable).",
            ),
            click.option(
                "--set",
                "sets",
                multiple=True,
                metavar="KEY=VALUE",
                help="Set one chart value, e.g. --set image.tag=0.2.0 (repeatable).",
            ),
            click.option(
                "--cost-model",
                "cost_model",
                type=click.Path(dir_okay=False),
                default=None,
                help="Cost-model file (JSON/YAML) from `falcoctl-py tune`; default: the shipped one.",
            ),
        ]
    ):
        func = opt(func)
    return func


def build_from_options(
    profile: str, *, values_files: tuple[str, ...], sets: tuple[str, ...], cost_model: str | None
) -> dict[str, Any]:
    from falcoctl_py.values import build_values

    return build_values(profile=profile, cost_model=cost_model, values_files=values_files, sets=sets)


@click.command("values")
@chart_inputs
@click.option(
    "-o", "--output", "output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def command(
    profile: str, values_files: tuple[str, ...], sets: tuple[str, ...], cost_model: str | None, output: str
) -> None:
    """Print Helm values for the falco-py chart, sized for a profile; schema-checked before printing."""
    values = build_from_options(profile, values_files=values_files, sets=sets, cost_model=cost_model)
    if output == "json":
        import orjson

        click.echo(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
    else:
        import yaml

        click.echo(yaml.dump(values, Dumper=yaml.CSafeDumper, sort_keys=False), nl=False)
