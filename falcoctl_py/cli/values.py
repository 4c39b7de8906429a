"""``falcoctl-py values``: print the chart values sized for a profile (and the shared chart-input options).

Owns: the ``--profile/-f/--set/--cost-model`` options every offline chart command shares (``chart_inputs``) and
the ``values`` command. Building the values is ``falcoctl_py.values``' job; this module only parses flags and prints.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from falcoctl_py.cli import options

F = TypeVar("F", bound=Callable[..., Any])


CHART_INPUT_KEYS = ("profile", "values_files", "sets", "cost_model", "strategy")


def chart_inputs(func: F) -> F:
    """Decorator adding the options that feed ``build_values``; the command receives them as one ``chart`` dict."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        chart = {key: kwargs.pop(key) for key in CHART_INPUT_KEYS}
        return func(chart=chart, **kwargs)

    options = [
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
        click.option(
            "--strategy",
            "strategy",
            default=None,
            metavar="NAME",
            help="Sizing strategy instead of the profile's (percentile, guaranteed).",
        ),
    ]
    decorated: Any = wrapper
    for opt in reversed(options):
        decorated = opt(decorated)
    return decorated  # type: ignore[no-any-return]


def build_from_options(chart: dict[str, Any]) -> dict[str, Any]:
    """``build_values`` from the options ``chart_inputs`` collected."""
    from falcoctl_py.values import build_values

    return build_values(
        profile=chart["profile"],
        cost_model=chart["cost_model"],
        values_files=chart["values_files"],
        sets=chart["sets"],
        strategy=chart["strategy"],
    )


@click.command("values")
@chart_inputs
@options.output(["yaml", "json"], default="yaml")
def command(chart: dict[str, Any], output: str) -> None:
    """Print Helm values for the falco-py chart, sized for a profile; schema-checked before printing."""
    values = build_from_options(chart)
    if output == "json":
        import orjson

        click.echo(orjson.dumps(values, option=orjson.OPT_INDENT_2).decode())
    else:
        import yaml

        click.echo(yaml.dump(values, Dumper=yaml.CSafeDumper, sort_keys=False), nl=False)
