"""Event-type set algebra: which event types a condition can possibly match (Falco's evttype resolution).

Owns: ``evttypes(node, all_types)``, used to index syscall rules by event type and to warn when a rule has
no event-type restriction (``LOAD_NO_EVTTYPE``: the result equals ``all_types``).

Rules, after libsinsp's resolver:
* ``evt.type = X`` / ``evt.type == X`` -> {X}; ``evt.type in (X, Y)`` -> {X, Y}; ``evt.type != X`` -> all - {X};
  names outside ``all_types`` contribute nothing;
* any other check (other fields, other operators on evt.type, ``exists``, transformers, unresolved macro
  names) -> all types: it does not restrict the type;
* ``evt.num = 0`` -> no type: event numbers start at 1, so the check never holds (Falco's rulesets spell
  "never true" this way, e.g. a placeholder macro a user overrides); a rule made only of it is not an
  unrestricted rule;
* ``and`` intersects, ``or`` unites; ``not`` is pushed down (De Morgan): under an odd number of ``not``,
  ``and`` unites, ``or`` intersects and an ``evt.type`` check yields its complement, while checks on other
  fields still yield all types (``not proc.name = x`` can match any type).

Must not: evaluate conditions or know the list of event types (the caller passes ``all_types``).
"""

from __future__ import annotations

from engine.condition.ast import And, Compare, FieldRef, ListValue, Node, Not, Or, Value

_POSITIVE_OPS = frozenset({"=", "==", "in"})


def evttypes(node: Node, all_types: frozenset[str]) -> frozenset[str]:
    """The event types ``node`` can be true for, as a subset of ``all_types``."""
    return _resolve(node, all_types, negated=False)


def _resolve(node: Node, all_types: frozenset[str], *, negated: bool) -> frozenset[str]:
    if isinstance(node, Not):
        return _resolve(node.child, all_types, negated=not negated)
    if isinstance(node, (And, Or)):
        sets = [_resolve(c, all_types, negated=negated) for c in node.children]
        unite = isinstance(node, Or) != negated
        return frozenset().union(*sets) if unite else frozenset(all_types).intersection(*sets)
    if isinstance(node, Compare):
        matched = frozenset() if _never_true(node) else _evt_type_check(node, all_types)
        if matched is not None:
            return all_types - matched if negated else matched
    return all_types


def _evt_type_check(node: Compare, all_types: frozenset[str]) -> frozenset[str] | None:
    """Types an ``evt.type`` check is true for, or None when the check is not an evt.type restriction."""
    left = node.left
    if not isinstance(left, FieldRef) or left.name != "evt.type" or left.arg is not None or node.modifier:
        return None
    right = node.right
    if isinstance(right, Value):
        names = frozenset({right.text})
    elif isinstance(right, ListValue):
        names = frozenset(v.text for v in right.items)
    else:
        return None
    if node.op in _POSITIVE_OPS:
        return names & all_types
    if node.op == "!=":
        return all_types - names
    return None


def _never_true(node: Compare) -> bool:
    left, right = node.left, node.right
    return (
        isinstance(left, FieldRef)
        and left.name == "evt.num"
        and left.arg is None
        and node.op in ("=", "==")
        and not node.modifier
        and isinstance(right, Value)
        and right.text == "0"
    )
