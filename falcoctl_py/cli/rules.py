"""``falcoctl-py rules validate|describe``: load Falco rules files and report findings (and rules).

Owns: the command-line contract for rules files -- files from ``--rules`` (repeatable) and positional
arguments, loaded in that order; ``-o text|json``; exit 0 when loading succeeds (warnings allowed), 1 when it
fails, 2 for a file that does not exist. Text lists each finding as ``file:line:col: error|warning CODE
item_type 'name': message`` and ends with a summary line.

Must not: implement loading (``engine.rules`` does) or run rules against events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from falcoctl_py.cli import options
from falcoctl_py.errors import UsageError


def _default_rules() -> Path:
    from importlib.resources import files

    return Path(str(files("engine") / "default_rules" / "falco_py_rules.yaml"))


def _files(rules: tuple[str, ...], paths: tuple[str, ...], default: bool) -> list[Path]:
    out = [_default_rules()] if default else []
    out += [Path(p) for p in (*rules, *paths)]
    if not out:
        raise UsageError("no rules files given: pass --rules FILE (repeatable) or FILE arguments")
    for path in out:
        if not path.exists():
            raise UsageError(f"rules file not found: {path}")
        if not path.is_file():
            raise UsageError(f"rules path is not a file: {path}")
    return out


def _rule_dict(rule: Any) -> dict[str, Any]:
    return {
        "name": rule.name,
        "source": rule.source,
        "priority": rule.priority.falco_name,
        "enabled": rule.enabled,
        "tags": list(rule.tags),
        "condition": rule.condition,
        "condition_compiled": rule.condition_compiled,
        "output": rule.output,
    }


_files_options: list[options.Decorator] = [
    options.rules_files(help="A rules file (repeat for more)."),
    click.option("--default-rules", is_flag=True, help="Load the bundled default ruleset first."),
    options.output(["text", "json"], default="text"),
    click.argument("paths", nargs=-1, metavar="[FILE]..."),
]


def _with_file_options(fn: Any) -> Any:
    for option in reversed(_files_options):
        fn = option(fn)
    return fn


@click.group(name="rules")
def group() -> None:
    """Validate and describe Falco rules files."""


@group.command()
@_with_file_options
@click.pass_context
def validate(
    ctx: click.Context, rules: tuple[str, ...], default_rules: bool, output: str, paths: tuple[str, ...]
) -> None:
    """Load rules files in order (validation only) and report errors and warnings."""
    from engine.rules import load_rules

    files = _files(rules, paths, default_rules)
    result = load_rules(files)
    click.echo(result.as_json() if output == "json" else result.as_text())
    ctx.exit(0 if result.successful else 1)


@group.command()
@_with_file_options
@click.pass_context
def describe(
    ctx: click.Context, rules: tuple[str, ...], default_rules: bool, output: str, paths: tuple[str, ...]
) -> None:
    """Load rules files and describe each rule: priority, tags, conditions as written and as compiled."""
    from engine.rules import load_rules

    files = _files(rules, paths, default_rules)
    result = load_rules(files)
    described = [_rule_dict(r) for r in result.ruleset.rules] if result.ruleset else []
    if output == "json":
        click.echo(
            orjson.dumps(
                {
                    **result.report(),
                    "rules": described,
                }
            ).decode()
        )
    else:
        for line in result.findings_text():
            click.echo(line)
        for r in described:
            state = "" if r["enabled"] else " (disabled)"
            click.echo(f"- {r['name']} [{r['source']}, {r['priority']}]{state}")
            click.echo(f"    tags: {', '.join(r['tags']) or '-'}")
            click.echo(f"    condition: {r['condition_compiled']}")
            click.echo(f"    output: {r['output']}")
        click.echo(result.summary() + f", {len(described)} rule(s)")
    ctx.exit(0 if result.successful else 1)


def _add_oci_commands() -> None:
    from falcoctl_py.cli.rules_oci import pull, push

    group.add_command(push)
    group.add_command(pull)


_add_oci_commands()
