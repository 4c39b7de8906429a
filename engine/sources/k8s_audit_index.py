"""Indexing of k8s audit rules by verb and resource, so a rule runs only on events it could match.

Falco evaluates every k8s audit rule on every audit event. Most rules pin the verb and/or resource in a
conjunctive clause (``ka.verb=create and ka.target.resource=pods ...``, ``ka.verb in (create, update)``), and
most audit traffic is reads and lease renewals, so skipping rules that cannot match saves most of the work.

Owns: the analysis of a (macro-expanded) condition AST into per-field constraints, and ``K8sAuditIndexer``, which
a ``Ruleset`` uses through one call: ``build(entries) -> lookup`` where ``entries`` is the ordered sequence of
``(item, condition_ast)`` for the ``k8s_audit`` source and ``lookup(event)`` returns the items (same order) that
could match the event. The analysis is conservative: any clause it does not understand leaves the rule
unconstrained, so indexed evaluation gives exactly the results of unindexed evaluation.

Must not: evaluate conditions or know about the rules loader; it reads the AST only through ``_shape`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Field -> the event attribute holding its value (``AuditEvent`` pre-reads both when it is decoded).
INDEXED_FIELDS: Mapping[str, str] = {"ka.verb": "verb", "ka.target.resource": "resource"}
_MEMO_LIMIT = 4096  # distinct (verb, resource) pairs remembered; beyond it lookups are computed, not stored

Constraint = dict[str, frozenset[str]]  # field -> allowed values; a field not present is unconstrained


def _shape(node: Any) -> tuple[str, Any]:
    """Classify an AST node: ("and"|"or", children), ("not", child), ("cmp", (field, op, values)), ("other", None).

    This is the only place that knows the AST classes of ``engine.condition.ast``.
    """
    from engine.condition import ast

    if isinstance(node, ast.And):
        return "and", node.children
    if isinstance(node, ast.Or):
        return "or", node.children
    if isinstance(node, ast.Not):
        return "not", node.child
    if (isinstance(node, ast.Compare) and isinstance(node.left, ast.FieldRef) and node.left.arg is None
            and node.modifier is None):
        values = _literal_values(node.right, ast)
        return ("cmp", (node.left.name, node.op, values)) if values is not None else ("other", None)
    return "other", None


def _literal_values(node: Any, ast: Any) -> tuple[str, ...] | None:
    if isinstance(node, ast.Value):
        return (node.text,)
    if isinstance(node, ast.ListValue) and all(isinstance(item, ast.Value) for item in node.items):
        return tuple(item.text for item in node.items)
    return None


def constraint(node: Any, *, shape: Callable[[Any], tuple[str, Any]] = _shape) -> Constraint:
    """The values of the indexed fields an event must have for ``node`` to be true (conservative)."""
    kind, payload = shape(node)
    if kind == "and":
        out: Constraint = {}
        for child in payload:
            for fld, allowed in constraint(child, shape=shape).items():
                out[fld] = out[fld] & allowed if fld in out else allowed
        return out
    if kind == "or":
        parts = [constraint(child, shape=shape) for child in payload]
        if not parts:
            return {}
        common = set(parts[0]).intersection(*parts[1:])
        return {fld: frozenset().union(*(p[fld] for p in parts)) for fld in common}
    if kind == "cmp":
        fld, op, values = payload
        if fld in INDEXED_FIELDS and (op in ("=", "==") and len(values) == 1 or op == "in"):
            return {fld: frozenset(values)}
    return {}  # "not", other operators, other fields: no constraint


class K8sAuditIndexer(Generic[T]):
    """Build a ``lookup(event) -> items`` over ordered ``(item, condition_ast)`` entries."""

    source = "k8s_audit"

    def __init__(self, *, shape: Callable[[Any], tuple[str, Any]] = _shape) -> None:
        self._shape = shape

    def build(self, entries: Sequence[tuple[T, Any]]) -> Callable[[Any], Sequence[T]]:
        items = [item for item, _ in entries]
        constraints = [constraint(node, shape=self._shape) for _, node in entries]
        memo: dict[tuple[str | None, str | None], tuple[T, ...]] = {}

        def candidates(verb: str | None, resource: str | None) -> tuple[T, ...]:
            key = {"ka.verb": verb, "ka.target.resource": resource}
            return tuple(item for item, cons in zip(items, constraints, strict=True)
                         if all(key[f] in allowed for f, allowed in cons.items()))

        def lookup(event: Any) -> Sequence[T]:
            pair = (getattr(event, "verb", None), getattr(event, "resource", None))
            found = memo.get(pair)
            if found is None:
                found = candidates(*pair)
                if len(memo) < _MEMO_LIMIT:
                    memo[pair] = found
            return found

        lookup.constraints = constraints  # type: ignore[attr-defined]  # for describe/debug output
        return lookup
