"""Macro passes: which macros a condition names, and replacing them by their (already parsed) conditions.

Owns: ``macro_refs(node)`` and ``substitute_macros(node, macros)``. Substitution is a pure tree rewrite: a
``MacroRef`` whose name is in ``macros`` becomes that macro's AST, itself substituted (macros may use
macros); names not in the table stay ``MacroRef`` so the caller can report them. A macro that reaches itself
raises ``MacroCycleError``.

Must not: parse text or report unknown macros (the rules loader words those findings).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.condition.ast import And, MacroRef, Node, Not, Or
from engine.condition.walk import leaves


class MacroCycleError(ValueError):
    """A macro that (through others) refers to itself; ``chain`` lists the names in order."""

    def __init__(self, chain: tuple[str, ...]) -> None:
        super().__init__("macro refers to itself: " + " -> ".join(chain))
        self.chain = chain


def macro_refs(node: Node) -> set[str]:
    """Names of the macros (bare identifiers) ``node`` refers to directly."""
    return {leaf.name for leaf in leaves(node) if isinstance(leaf, MacroRef)}


def substitute_macros(node: Node, macros: Mapping[str, Node]) -> Node:
    """``node`` with every known macro reference replaced by the macro's condition (recursively)."""
    return _subst(node, macros, ())


def _subst(node: Node, macros: Mapping[str, Node], chain: tuple[str, ...]) -> Node:
    if isinstance(node, MacroRef):
        body = macros.get(node.name)
        if body is None:
            return node
        if node.name in chain:
            raise MacroCycleError((*chain, node.name))
        return _subst(body, macros, (*chain, node.name))
    if isinstance(node, (And, Or)):
        children = tuple(_subst(c, macros, chain) for c in node.children)
        return node if children == node.children else type(node)(children)
    if isinstance(node, Not):
        child = _subst(node.child, macros, chain)
        return node if child is node.child else Not(child)
    return node
