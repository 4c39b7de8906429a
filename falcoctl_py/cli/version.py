"""``falcoctl-py version``: CLI, engine and Falco engine-semantics versions."""

from __future__ import annotations

import click
import orjson

from falcoctl_py import __version__
from falcoctl_py.cli import options


@click.command("version")
@options.output(["text", "json"], default="text")
def command(output: str) -> None:
    """Print version information."""
    import engine

    info = {
        "version": __version__,
        "engine_version": engine.__version__,
        "falco_engine_version": engine.FALCO_ENGINE_VERSION,
    }
    if output == "json":
        click.echo(orjson.dumps(info).decode())
    else:
        click.echo(f"falcoctl-py {info['version']} (engine {info['engine_version']}, "
                   f"Falco engine semantics {info['falco_engine_version']})")
