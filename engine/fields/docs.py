"""Markdown reference of every field table (``docs/fields.md`` is this module's output).

Owns: rendering the registry's field classes as Markdown, one section per event source and field class.
Regenerate the checked-in file explicitly with ``python -m engine.fields.docs docs/fields.md``; a test fails when
it is stale. Must not: hold any field knowledge of its own (it only reads the tables).
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.fields import SOURCES, field_classes
from engine.fields.base import ArgKind, ArgMode, FieldSpec

_ARG_FORMS = {ArgKind.INDEX: ("[N]",), ArgKind.KEY: ("[KEY]",), ArgKind.INDEX_OR_KEY: ("[N]", "[NAME]")}


def _usage(spec: FieldSpec) -> str:
    if spec.arg is ArgMode.NONE:
        return f"`{spec.name}`"
    form = ", ".join(f"`{spec.name}{suffix}`" for suffix in _ARG_FORMS[spec.arg_kind])
    if spec.dotted_arg:
        form += f", `{spec.name}.KEY`"
    if spec.arg is ArgMode.OPTIONAL:
        form = f"`{spec.name}`, " + form
    return form


def render_markdown() -> str:
    """The whole reference as Markdown text."""
    lines = ["# Supported fields", "",
             "Generated from the field tables in `engine/fields/` by `python -m engine.fields.docs docs/fields.md`;",
             "do not edit by hand. A missing value (shown as `<NA>` in outputs) makes every comparison false.", ""]
    for source in SOURCES:
        lines += [f"## Source `{source}`", ""]
        for fc in field_classes():
            if source not in fc.sources:
                continue
            lines += [f"### Field class `{fc.name}`", ""]
            if fc.desc:
                lines += [fc.desc, ""]
            if fc.plugin:
                lines += [f"Compatible with the Falco `{fc.plugin}` plugin, version {fc.plugin_version}.", ""]
            lines += ["| Field | Type | List | Description |", "|---|---|---|---|"]
            for spec in fc.fields:
                desc = spec.desc.replace("|", "\\|")
                lines.append(f"| {_usage(spec)} | {spec.type.value} | {'yes' if spec.is_list else ''} | {desc} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render_markdown()
    if argv:
        Path(argv[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
