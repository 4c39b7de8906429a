"""Entry point of ``falcoctl-py``: global options, lazy command loading, and the error edge.

Owns: turning ``FalcoctlError`` into a one-line message and its exit code, and making sure no third-party
exception reaches the user as a traceback. Commands live one per module in this package and are imported only
when invoked, so ``falcoctl-py engine run`` (the DaemonSet process) never imports the deployment stack.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from falcoctl_py import __version__
from falcoctl_py.errors import EXIT_FINDINGS, EXIT_USAGE, FalcoctlError
from falcoctl_py.logs import LEVELS, setup_logging

# command name -> (module, attribute, one-line help). Adding a command is adding a module and a row here.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "version": ("falcoctl_py.cli.version", "command", "Print version information."),
    "rules": ("falcoctl_py.cli.rules", "group", "Validate, describe, push and pull Falco rules files."),
    "engine": ("falcoctl_py.cli.engine", "group", "Run the bundled rules engine."),
    "values": ("falcoctl_py.cli.values", "command", "Print Helm values sized for a profile or cluster."),
    "template": ("falcoctl_py.cli.template", "command", "Render and schema-check the chart's manifests."),
    "size": ("falcoctl_py.cli.size", "command", "Report per-pool resource sizing."),
    "image": ("falcoctl_py.cli.image", "group", "Build the engine image and push it to a registry."),
    "install": ("falcoctl_py.cli.install", "command", "Install or upgrade the engine in a cluster."),
    "upgrade": ("falcoctl_py.cli.upgrade", "command", "Upgrade the engine or its rules."),
    "rollback": ("falcoctl_py.cli.rollback", "command", "Roll the release back to a revision."),
    "uninstall": ("falcoctl_py.cli.uninstall", "command", "Remove the release from the cluster."),
    "status": ("falcoctl_py.cli.status", "command", "Show per-pool engine status."),
    "audit": ("falcoctl_py.cli.audit", "group", "Kubernetes audit configuration helpers."),
    "netpol": ("falcoctl_py.cli.netpol", "command", "Print the NetworkPolicies for the engine."),
    "tune": ("falcoctl_py.cli.tune", "command", "Measure overhead and noise, propose exceptions and limits."),
    "verify": ("falcoctl_py.cli.verify", "command", "Run Falco's syscall suite against the engine on this node."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        cmd = getattr(module, attr)
        assert isinstance(cmd, click.Command)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True,
              envvar="FALCOPY_LOG_LEVEL", help="Minimum level of log lines (written to stderr).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="FALCOPY_LOG_FORMAT", help="Log lines as text or JSON.")
@click.version_option(__version__, "--version", prog_name="falcoctl-py")
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_format: str) -> None:
    """Install, size and tune a Falco-compatible runtime-security engine on Kubernetes."""
    setup_logging(log_level, log_format)
    ctx.ensure_object(dict)
    ctx.obj["log_level"] = log_level
    ctx.obj["log_format"] = log_format


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the command's exit code (``ctx.exit(n)`` inside a command ends up here)."""
    try:
        rv = cli.main(args=argv, prog_name="falcoctl-py", standalone_mode=False)
    except FalcoctlError as err:
        click.echo(f"Error: {err.reason}", err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as err:  # the edge: never a traceback for the user
        logging.getLogger("falcoctl_py").debug("unexpected error", exc_info=True)
        click.echo(f"Error: internal error: {type(err).__name__}: {err} (rerun with --log-level debug)",
                   err=True)
        sys.exit(EXIT_FINDINGS)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
