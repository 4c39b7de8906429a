"""Shared code generation: the conditions of several rules become one Python function that evaluates them
together, in order, doing each piece of work once per event.

Owns: ``compile_group(nodes, source, *, results, first, fields=None, evt_type=None) -> Callable[[event], list]``.
The function returns ``results[i]`` for every node ``i`` that holds (in order), or only the first of them when
``first`` is set, exactly what evaluating each node's ``compile_condition`` function in turn would give:

* a sub-expression (comparison, ``and``/``or``/``not``) that occurs more than once across the nodes -- a macro
  several rules use, a repeated exception clause -- is evaluated at most once per event: a local starts unset
  and is filled wherever the first evaluation happens, so short-circuiting decides *whether* it runs exactly as
  in the per-rule functions, and a later rule only reads the value;
* a field read by more than one comparison is extracted at most once per event (``codegen``'s lazy locals,
  here shared by every rule of the group);
* with ``evt_type`` (the group serves events of that one type), comparisons of ``evt.type`` with literals are
  constants: ``and``/``or``/``not`` fold around them (the children before a deciding constant are kept, as they
  would run first), and a node that folds to false outright is not emitted at all.

Semantics are ``codegen``'s (Falco's); nothing here changes what a comparison means or the order in which a
rule's parts run, so the work done is a subset of what the per-rule functions do, in the same order: the group
returns what they return, and raises exactly when one of them would (extractors are deterministic for one
event; by the field contract they never raise, but a bug that makes one raise is reported the same way).

Must not: parse, type-check (nodes are checked conditions, as ``CompiledRule.ast`` is), select candidates, or
know about rules beyond the opaque ``results``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from engine.condition.ast import And, Compare, FieldRef, ListValue, Node, Not, Or, Value
from engine.condition.codegen import _Generator
from engine.condition.resolve import FieldTable, field_table

if TYPE_CHECKING:
    from engine.events.base import Event

R = TypeVar("R")

_EQ_OPS = frozenset({"=", "==", "in"})


@dataclass(frozen=True, slots=True)
class Const:
    """A condition folded to a constant (only inside this module and its callers' tests)."""

    value: bool


Folded = Node | Const


def compile_group(
    nodes: Sequence[Node],
    source: str,
    *,
    results: Sequence[R],
    first: bool,
    fields: FieldTable | None = None,
    evt_type: str | None = None,
) -> Callable[[Event], list[R]]:
    """One function ``event -> [results[i] for each node i that holds]`` (only the first with ``first``)."""
    if len(nodes) != len(results):
        raise ValueError("compile_group needs one result per node")
    table = field_table(source, fields)
    folded = [fold_evt_type(n, evt_type) if evt_type is not None else n for n in nodes]
    live = [(node, res) for node, res in zip(folded, results) if node != Const(False)]
    gen = _GroupGenerator(table, shared_nodes([n for n, _ in live]))
    for node, _ in live:
        gen.count_fields(node)
    lines: list[str] = []
    if not first:
        lines.append("        _m = []")
    for node, res in live:
        rule = gen.const(res, hint="R")
        test = gen.node(node)  # type: ignore[arg-type]
        if first:
            lines.append(f"        if {test}:\n            return [{rule}]")
            if node == Const(True):
                break  # later rules cannot be reached
        else:
            lines.append(f"        if {test}:\n            _m.append({rule})")
    lines.append("        return []" if first else "        return _m")
    params = ", ".join(gen.consts)
    init = f"        {' = '.join(gen.cached_vars)} = _U\n" if gen.cached_vars else ""
    src = f"def _factory({params}):\n    def evaluate(e):\n{init}" + "\n".join(lines) + "\n    return evaluate\n"
    namespace: dict[str, Any] = {}
    label = f"<rules group {source}{':' + evt_type if evt_type else ''} ({len(live)} conditions)>"
    exec(compile(src, label, "exec"), namespace)  # noqa: S102 - our own source
    fn = namespace["_factory"](*gen.consts.values())
    fn.__condition_source__ = src
    return fn  # type: ignore[no-any-return]


def fold_evt_type(node: Node, evt_type: str) -> Folded:
    """``node`` for events of type ``evt_type``: ``evt.type`` checks against literals become constants and
    ``and``/``or``/``not`` are simplified around them (an ``and`` with a false child is false, and so on)."""
    if isinstance(node, Not):
        child = fold_evt_type(node.child, evt_type)
        return Const(not child.value) if isinstance(child, Const) else Not(child)
    if isinstance(node, (And, Or)):
        absorbing = isinstance(node, Or)  # the value that decides the whole node: True for or, False for and
        kids: list[Folded] = []
        for c in node.children:
            f = fold_evt_type(c, evt_type)
            if isinstance(f, Const):
                if f.value is absorbing:  # decides the node; the children before it still run first
                    return f if not kids else type(node)((*kids, f))  # type: ignore[arg-type]
                continue
            kids.append(f)
        if not kids:
            return Const(not absorbing)
        return kids[0] if len(kids) == 1 else type(node)(tuple(kids))  # type: ignore[arg-type]
    if isinstance(node, Compare):
        value = _evt_type_value(node, evt_type)
        if value is not None:
            return Const(value)
    return node


def _evt_type_value(node: Compare, evt_type: str) -> bool | None:
    """What an ``evt.type`` comparison with literals gives for ``evt_type``; None for any other comparison."""
    left = node.left
    if not isinstance(left, FieldRef) or left.name != "evt.type" or left.arg is not None or node.modifier:
        return None
    right = node.right
    if isinstance(right, Value):
        names = {right.text}
    elif isinstance(right, ListValue):
        names = {v.text for v in right.items}
    else:
        return None
    if node.op in _EQ_OPS:
        return evt_type in names
    if node.op == "!=":
        return evt_type not in names
    return None


def _children(node: Folded) -> tuple[Folded, ...]:
    if isinstance(node, (And, Or)):
        return node.children
    if isinstance(node, Not):
        return (node.child,)
    return ()


def shared_nodes(nodes: Sequence[Folded]) -> frozenset[Folded]:
    """Sub-expressions worth a memo: those met more than once, counting the inside of a repeated node once
    (after its first evaluation the memo answers, so its parts are not evaluated again from there)."""
    counts: Counter[Folded] = Counter()
    todo = list(reversed(nodes))
    while todo:
        node = todo.pop()
        counts[node] += 1
        if counts[node] == 1:
            todo.extend(reversed(_children(node)))
    return frozenset(n for n, k in counts.items() if k > 1 and not isinstance(n, Const))


class _GroupGenerator(_Generator):
    """``codegen``'s generator with memo locals for shared sub-expressions and field counts that see a repeated
    sub-expression once."""

    def __init__(self, table: FieldTable, shared: frozenset[Folded]) -> None:
        super().__init__(table)
        self.shared = shared
        self._memo: dict[Folded, str] = {}
        self._counted: set[Folded] = set()

    def count_fields(self, node: object) -> None:
        if isinstance(node, (And, Or, Not, Compare)):
            if node in self._counted:
                return
            if node in self.shared:
                self._counted.add(node)
        super().count_fields(node)

    def node(self, node: Node) -> str:
        if isinstance(node, Const):
            return "True" if node.value else "False"
        if node not in self.shared:
            return super().node(node)
        code = self._memo.get(node)
        if code is None:
            var = f"_c{len(self.cached_vars)}"
            self.cached_vars.append(var)  # named before the inside is generated: it may hold memos of its own
            code = f"({var} if {var} is not _U else ({var} := {super().node(node)}))"
            self._memo[node] = code
        return code
