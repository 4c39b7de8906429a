"""Canonical printer: an AST back to condition text in Falco's printed form.

Owns: ``to_string(node)``. The form matches what Falco prints for compiled conditions: ``and``/``or`` groups
in parentheses with single spaces (``(a and b)``), ``not X`` without extra parentheses, ``field op value``
with spaces around every operator, lists as ``(a, b)``, field arguments as ``field[arg]`` and transformers
as ``name(arg)``. Values are printed bare when they read back as one bare token and double-quoted with
escapes otherwise (Falco quotes only values with blanks, quotes or backslashes; we also quote values holding
``( ) , =`` or empty ones so that ``parse(to_string(x)) == x`` always holds).

Must not: change the tree (no simplification) or consult field tables.
"""

from __future__ import annotations

from engine.condition import lexer
from engine.condition.ast import And, Compare, FieldRef, ListValue, MacroRef, Not, Or, Transform, Value


def to_string(node: object) -> str:
    """The canonical text of any node (a condition or an operand)."""
    kind = type(node)
    if kind is And or kind is Or:
        word = " and " if kind is And else " or "
        return "(" + word.join(to_string(c) for c in node.children) + ")"  # type: ignore[attr-defined]
    if kind is Not:
        return "not " + to_string(node.child)  # type: ignore[attr-defined]
    if kind is Compare:
        return _compare(node)  # type: ignore[arg-type]
    if kind is MacroRef:
        return str(node.name)  # type: ignore[attr-defined]
    if kind is FieldRef:
        return _field(node)  # type: ignore[arg-type]
    if kind is Transform:
        return str(node.name) + "(" + ", ".join(to_string(a) for a in node.args) + ")"  # type: ignore[attr-defined]
    if kind is Value:
        return lexer.quote(node.text)  # type: ignore[attr-defined]
    if kind is ListValue:
        return "(" + ", ".join(lexer.quote(v.text) for v in node.items) + ")"  # type: ignore[attr-defined]
    raise TypeError(f"not a condition node: {node!r}")


def _field(field: FieldRef) -> str:
    if field.arg is None:
        return field.name
    arg = field.arg
    if lexer.FIELD_ARG_BARE.fullmatch(arg) is None:
        arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{field.name}[{arg}]"


def _compare(node: Compare) -> str:
    left = to_string(node.left)
    if node.right is None:
        return f"{left} {node.op}"
    op = node.op if node.modifier is None else f"{node.op} {node.modifier}"
    return f"{left} {op} {to_string(node.right)}"
