"""Walking a condition tree: the one place that knows how ``and``/``or``/``not`` nest.

Owns: ``leaves(node)`` — the comparisons and macro references of a condition, left to right as written, without
recursion (conditions of thousands of clauses do not hit Python's recursion limit) — and the views other passes
need: ``compares(node)`` (the comparisons only) and ``field_refs(node)`` (every field a comparison reads, on either
side and inside transformer arguments).

Must not: interpret what it walks (type checks, warnings, code generation and macro substitution are the
callers'), or rebuild trees.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.condition.ast import And, Compare, FieldRef, MacroRef, Node, Not, Or, Transform


def leaves(node: Node) -> Iterator[Compare | MacroRef]:
    """Every comparison and macro reference under ``node``, in condition order."""
    stack: list[Node] = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, (And, Or)):
            stack.extend(reversed(cur.children))
        elif isinstance(cur, Not):
            stack.append(cur.child)
        else:
            yield cur


def compares(node: Node) -> Iterator[Compare]:
    """Every comparison of ``node``, in condition order (macro references are skipped)."""
    for leaf in leaves(node):
        if isinstance(leaf, Compare):
            yield leaf


def field_refs(node: Node) -> Iterator[FieldRef]:
    """Every field the comparisons of ``node`` read: left and right operands, transformer arguments included."""
    for cmp in compares(node):
        operands: list[object] = [cmp.left, cmp.right]  # a Value or ListValue reads no field
        while operands:
            cur = operands.pop()
            if isinstance(cur, Transform):
                operands.extend(cur.args)
            elif isinstance(cur, FieldRef):
                yield cur
