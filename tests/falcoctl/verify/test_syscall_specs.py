"""The syscall steps the runner accepts are exactly the reference's table (``docs/event-generator_suite_yaml.md``
of the upstream suite): every syscall it lists, each argument with its optional mark, and the exposed fields
with their binding-only mark."""

from __future__ import annotations

import re
from pathlib import Path

from falcoctl_py.verify.syscall_specs import SYSCALLS, exposed_fields

ROW = re.compile(r"^\| `(?P<name>\w+)` \| (?P<args>[^|]+) \| (?P<exposed>[^|]+) \|$")


def _reference_rows(shared: Path) -> dict[str, tuple[list[str], list[str]]]:
    text = (shared / "upstream" / "evtgen_suite" / "docs" / "event-generator_suite_yaml.md").read_text()
    table = text[text.index("| `syscall` | Arguments | Exposed fields |"):].splitlines()[2:]
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for line in table:
        found = ROW.match(line.strip())
        if not found:
            break
        rows[found["name"]] = ([a.strip() for a in found["args"].split(",")],
                               [e.strip() for e in found["exposed"].split(",")])
    return rows


def test_every_reference_syscall_with_its_arguments_and_exposed_fields(shared: Path) -> None:
    rows = _reference_rows(shared)
    assert len(rows) >= 18, "the reference's syscall table was not found"
    assert set(SYSCALLS) == set(rows)
    for name, (args, exposed) in rows.items():
        spec_args, _ret = SYSCALLS[name]
        assert [f"`{a.name}`" + ("(o)" if a.optional else "") for a in spec_args] == args, name
        want = {e.strip("`†").removesuffix("`") for e in exposed}
        assert exposed_fields(name) == want, name
        bind_only = {e.rstrip("†").strip("`") for e in exposed if e.endswith("†")}
        assert {a.name for a in spec_args if a.bind_only} == bind_only, name
