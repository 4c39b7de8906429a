"""Pinned fields: the fields a rule's compiled condition compares to a constant on every path to a match.

Owns: ``pinned_fields(node)`` over the engine's condition AST (macros and lists already substituted, as
``CompiledRule.ast`` holds it) and ``rule_pins(ruleset)``. An exception on a pinned field names the action the rule
exists to catch (``ka.target.resource = secrets`` on a secret-read rule), not who does it, so the tuner never
explains noise by one and the guard refuses a proposal that uses one.

Must not: evaluate conditions, load rules or decide anything about proposals.

How it is computed: negations are pushed down to the comparisons (De Morgan), then a comparison pins its left
field when it holds only if the field equals, starts with, lies in... a constant (every operator except ``!=`` and
``exists``, and ``!=`` under an odd number of ``not``); ``and`` pins the union of what its children pin; ``or`` only
what every branch pins. A field inside a transformer (``tolower(proc.name) = bash``) counts as pinned: the rule
still fixes it.
"""

from __future__ import annotations

from typing import Any

from engine.condition.ast import And, Compare, FieldRef, ListValue, MacroRef, Not, Or, Transform, Value

# Comparisons that never fix a value, whatever the constant.
_OPEN_OPS = frozenset(("!=", "exists"))


def field_name(ref: FieldRef) -> str:
    """The field as an exception writes it: ``jevt.value[/stage]``, ``proc.aname[2]``, ``ka.user.name``."""
    return ref.name if ref.arg is None else f"{ref.name}[{ref.arg}]"


def _operand_fields(operand: Any) -> frozenset[str]:
    if isinstance(operand, FieldRef):
        return frozenset((field_name(operand),))
    if isinstance(operand, Transform):
        out: frozenset[str] = frozenset()
        for arg in operand.args:
            out |= _operand_fields(arg)
        return out
    return frozenset()


def _compare(node: Compare, negated: bool) -> frozenset[str]:
    if not isinstance(node.right, (Value, ListValue)):
        return frozenset()  # ``exists`` or a field-to-field comparison: no constant
    positive = node.op not in _OPEN_OPS
    if negated:
        positive = node.op == "!="  # not (x != c) is x = c; not (x = c) fixes nothing
    return _operand_fields(node.left) if positive else frozenset()


def pinned_fields(node: Any, *, negated: bool = False) -> frozenset[str]:
    """Fields ``node`` compares to a constant on every path to a match (see the module docstring)."""
    if isinstance(node, Compare):
        return _compare(node, negated)
    if isinstance(node, Not):
        return pinned_fields(node.child, negated=not negated)
    if isinstance(node, (And, Or)):
        parts = [pinned_fields(c, negated=negated) for c in node.children]
        # not (a or b) is (not a and not b): under a negation the roles of and/or swap
        conjunction = isinstance(node, And) != negated
        if conjunction:
            return frozenset().union(*parts)
        out = parts[0]
        for p in parts[1:]:
            out &= p
        return out
    if isinstance(node, MacroRef):
        return frozenset()  # an unresolved name pins nothing we can see
    return frozenset()


def rule_pins(ruleset: Any) -> dict[str, frozenset[str]]:
    """Rule name -> pinned fields, for every rule of a loaded ruleset (the last definition of a name wins)."""
    return {r.name: pinned_fields(r.ast) if r.ast is not None else frozenset() for r in ruleset.rules}
