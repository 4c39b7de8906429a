"""Indexing of k8s audit rules by verb, resource (and subresource, stage, user), so a rule runs only on events
it could match.

Falco evaluates every k8s audit rule on every audit event. Most rules pin the verb and/or resource in a
conjunctive clause (``ka.verb=create and ka.target.resource=pods ...``, ``ka.verb in (create, update)``), nearly
all pin the stage (``jevt.value[/stage] in (ResponseComplete)``), and most audit traffic is reads, watches and
lease renewals, so skipping rules that cannot match saves most of the work. Per indexed field each value maps to
a bitmask of the rules it allows; an event's candidates are the AND of its values' masks, memoized per key
(verb, stage, resource, subresource, user). A rule that reads nothing but those key fields (e.g. "Disallowed K8s
User") has one result per key, so it is evaluated once per key: dropped from the key's candidates when false,
kept with a constant-true matcher when true. A candidate's other matcher is its residual condition: the
top-level conjuncts that only restate its constraint (``ka.verb = create``, ``jevt.value[/stage] in
(ResponseComplete)``) are true for every event the index offers it, so they are left out.

Owns: the analysis of a (macro-expanded) condition AST into per-field constraints and residual conjuncts, and
``K8sAuditIndexer``, which a ``Ruleset`` uses through one call: ``build(entries) -> lookup`` where ``entries`` is
the ordered sequence of ``(item, condition_ast)`` for the ``k8s_audit`` source, ``lookup(event)`` returns the
items (same order) that could match the event and ``lookup.pairs(event)`` the same as ``(item, matcher)``. The
analysis is conservative: any clause it does not understand leaves the rule unconstrained (and in its residual),
so indexed evaluation gives exactly the results of unindexed evaluation.

Must not: know about the rules loader; it reads the AST only through ``_shape`` (and builds a residual only in
``_compile_conjunction``, with the condition compiler).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# Indexed key -> the field whose (string) value an event is looked up by. Conditions may name the stage either way.
INDEXED_FIELDS: Mapping[str, str] = {"ka.verb": "ka.verb", "ka.target.resource": "ka.target.resource",
                                     "ka.target.subresource": "ka.target.subresource",
                                     "ka.user.name": "ka.user.name", "ka.stage": "ka.stage"}
_ALIASES: Mapping[tuple[str, str | None], str] = {("jevt.value", "/stage"): "ka.stage",
                                                  ("json.value", "/stage"): "ka.stage"}
_MEMO_LIMIT = 8192  # distinct (verb, stage, resource, subresource, user) keys remembered before a reset

Constraint = dict[str, frozenset[str]]  # field -> allowed values; a field not present is unconstrained


def _shape(node: Any) -> tuple[str, Any]:
    """Classify an AST node: ("and"|"or", children), ("not", child), ("cmp", (field, op, values)) for a field
    compared with literals, or ("other", fields read | None when unknown) for anything else.

    This is the only place that knows the AST classes of ``engine.condition.ast``.
    """
    from engine.condition import ast

    if isinstance(node, ast.And):
        return "and", node.children
    if isinstance(node, ast.Or):
        return "or", node.children
    if isinstance(node, ast.Not):
        return "not", node.child
    if isinstance(node, ast.Compare) and isinstance(node.left, ast.FieldRef) and node.modifier is None:
        left = node.left
        name = _ALIASES.get((left.name, left.arg)) or (left.name if left.arg is None else None)
        values = _literal_values(node.right, ast)
        if name is not None and values is not None:
            return "cmp", (name, node.op, values)
    if isinstance(node, ast.Compare):
        refs: set[str] = set()
        for operand in (node.left, node.right):
            _operand_refs(operand, ast, refs)
        return "other", frozenset(refs)
    return "other", None  # a leftover macro reference or an unknown node: reads unknown fields


def _operand_refs(node: Any, ast: Any, out: set[str]) -> None:
    if isinstance(node, ast.FieldRef):
        out.add(_ALIASES.get((node.name, node.arg)) or
                (node.name if node.arg is None else f"{node.name}[{node.arg}]"))
    elif isinstance(node, ast.Transform):
        for arg in node.args:
            _operand_refs(arg, ast, out)


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


def reads(node: Any, *, shape: Callable[[Any], tuple[str, Any]] = _shape) -> frozenset[str] | None:
    """The fields ``node`` reads (``jevt.value[/stage]`` counted as ``ka.stage``); None when not known."""
    kind, payload = shape(node)
    if kind in ("and", "or"):
        out: set[str] = set()
        for child in payload:
            got = reads(child, shape=shape)
            if got is None:
                return None
            out |= got
        return frozenset(out)
    if kind == "not":
        return reads(payload, shape=shape)
    if kind == "cmp":
        return frozenset({payload[0]})
    return payload  # type: ignore[no-any-return]


def membership(node: Any, *, shape: Callable[[Any], tuple[str, Any]] = _shape) -> tuple[str, frozenset[str]] | None:
    """``(field, values)`` when ``node`` is exactly "the indexed field's value is one of ``values``" (a ``=`` or
    ``in`` comparison with literals, or an ``or`` of such comparisons on one field); None otherwise."""
    kind, payload = shape(node)
    if kind == "cmp":
        got = constraint(node, shape=shape)
        return next(iter(got.items())) if len(got) == 1 else None
    if kind == "or" and payload:
        parts = [membership(child, shape=shape) for child in payload]
        if all(p is not None for p in parts) and len({p[0] for p in parts if p}) == 1:
            return parts[0][0], frozenset().union(*(p[1] for p in parts if p))  # type: ignore[index]
    return None


def residual_conjuncts(node: Any, cons: Constraint, *,
                       shape: Callable[[Any], tuple[str, Any]] = _shape) -> list[Any] | None:
    """The top-level conjuncts of ``node`` that an event meeting ``cons`` does not already satisfy (in order;
    ``[]``: all are satisfied); None when none can be dropped."""
    kept = []
    flat = _flatten_and(node, shape)  # nested ``and``s too, in source order
    for child in flat:
        got = membership(child, shape=shape)
        if got is not None and got[0] in cons and cons[got[0]] <= got[1]:
            continue  # the index only offers this rule for values in cons[field]: the conjunct holds
        kept.append(child)
    return None if len(kept) == len(flat) else kept


def _flatten_and(node: Any, shape: Callable[[Any], tuple[str, Any]]) -> list[Any]:
    kind, payload = shape(node)
    if kind != "and":
        return [node]
    return [leaf for child in payload for leaf in _flatten_and(child, shape)]


def _compile_conjunction(nodes: list[Any]) -> Callable[[Any], bool]:
    """The real AST's residual matcher: the conjunction of ``nodes`` compiled for the k8s_audit source."""
    from engine.condition import ast, compile_condition

    return compile_condition(nodes[0] if len(nodes) == 1 else ast.And(tuple(nodes)), "k8s_audit")


def _always(event: Any) -> bool:
    return True


class K8sAuditIndexer(Generic[T]):
    """Build a ``lookup(event) -> items`` over ordered ``(item, condition_ast)`` entries.

    ``lookup.pairs(event)`` gives the same candidates as ``(item, matcher)`` pairs: the matcher is the item's
    condition without the top-level conjuncts the index already guarantees for a candidate (``ka.verb = create``
    when only create events reach the rule), or a constant true for a folded rule known to match the key.
    """

    source = "k8s_audit"

    def __init__(self, *, shape: Callable[[Any], tuple[str, Any]] = _shape,
                 predicate: Callable[[Any], Callable[[Any], bool] | None] | None = None,
                 conjunction: Callable[[list[Any]], Callable[[Any], bool]] | None = None) -> None:
        self._shape = shape
        # How to evaluate an item, for rules whose result depends on the memo key alone (see ``build``).
        self._predicate = predicate or (lambda item: getattr(item, "match", None))
        # How to evaluate a list of conjuncts (a residual condition); without it, items keep their predicate.
        self._conjunction = conjunction or (_compile_conjunction if shape is _shape else None)

    def _residual(self, node: Any, cons: Constraint, full: Callable[[Any], bool] | None) -> Any:
        if full is None or self._conjunction is None:
            return full
        kept = residual_conjuncts(node, cons, shape=self._shape)
        if kept is None:
            return full
        if not kept:
            return _always
        try:
            return self._conjunction(kept)
        except Exception:  # noqa: BLE001 - a residual that cannot be built: the full condition is always right
            return full

    def build(self, entries: Sequence[tuple[T, Any]]) -> Callable[[Any], Sequence[T]]:
        from engine.fields import lookup as field_lookup

        items = [item for item, _ in entries]
        constraints = [constraint(node, shape=self._shape) for _, node in entries]
        everything = (1 << len(items)) - 1
        tables: list[tuple[Callable[[Any, Any], Any], dict[str, int], int]] = []
        for key, field_name in INDEXED_FIELDS.items():
            pinned = [(i, c[key]) for i, c in enumerate(constraints) if key in c]
            if not pinned:
                continue  # no rule pins this field: reading it would only cost time
            free = everything
            for i, _ in pinned:
                free &= ~(1 << i)
            by_value: dict[str, int] = {}
            for i, allowed in pinned:
                for value in allowed:
                    by_value[value] = by_value.get(value, free) | (1 << i)
            spec = field_lookup("k8s_audit", field_name)
            assert spec is not None, field_name
            tables.append((spec.extract, by_value, free))
        # Rules that read only the memo-key fields have one result per key: evaluate them once per key and
        # keep them as candidates only where they matched (with a constant-true matcher: the key decided it).
        keyed = frozenset(INDEXED_FIELDS)
        folded: dict[int, Callable[[Any], bool]] = {}
        predicates = [self._predicate(item) for item in items]
        for i, (_item, node) in enumerate(entries):
            fields_read = reads(node, shape=self._shape)
            pred = predicates[i]
            if fields_read is not None and fields_read <= keyed and pred is not None:
                folded[i] = pred
        # Every candidate meets its constraint (the tables only offer it for allowed values), so the conjuncts
        # that say no more than that need not run again.
        residuals = [self._residual(node, constraints[i], predicates[i]) for i, (_item, node) in enumerate(entries)]
        # Candidates per (mask, folded true, folded failing), as (item, matcher) pairs.
        by_mask: dict[tuple[int, int, int], tuple[tuple[T, Any], ...]] = {}
        memo: dict[tuple[Any, ...], tuple[tuple[T, Any], ...]] = {}

        def compute(event: Any, *, fold: bool = False) -> tuple[tuple[T, Any], ...]:
            mask = everything
            for extract, by_value, free in tables:
                value = extract(event, None)
                mask &= by_value.get(value, free) if value is not None else free
            true = failed = 0  # folded rules known to match this key / that could not be evaluated
            if fold:
                for i, pred in folded.items():
                    if mask >> i & 1:
                        try:
                            if pred(event):
                                true |= 1 << i
                            else:
                                mask &= ~(1 << i)
                        except Exception:  # noqa: BLE001 - cannot fold: stays a candidate with its whole
                            failed |= 1 << i  # condition, evaluated (its failure reported) per event
            found = by_mask.get((mask, true, failed))
            if found is None:
                found = by_mask[(mask, true, failed)] = tuple(
                    (items[i], _always if true >> i & 1 else predicates[i] if failed >> i & 1 else residuals[i])
                    for i in range(len(items)) if mask >> i & 1)
            return found

        def general(event: Any) -> tuple[tuple[T, Any], ...]:
            # The raw values of every indexed field key a memo of the computed candidates; ``compute`` reads
            # them through the field extractors, so the result is exactly what the conditions would see.
            obj = event.obj
            ref = obj.get("objectRef")
            user = obj.get("user")
            if type(ref) is dict:
                key = (obj.get("verb"), obj.get("stage"), ref.get("resource"), ref.get("subresource"),
                       user.get("username") if type(user) is dict else None)
            else:
                key = (obj.get("verb"), obj.get("stage"), None, None,
                       user.get("username") if type(user) is dict else None)
            try:
                found = memo.get(key)
            except TypeError:  # an object or array where a string belongs: an odd event
                return compute(event)
            if found is None:
                # Only keys of plain strings are stored (1 == True == 1.0 would alias different renderings);
                # a stored key therefore only ever equals a key of the same strings.
                if not all(value is None or type(value) is str for value in key):
                    return compute(event)
                found = remember(key, event)
            return found

        def remember(key: tuple[Any, ...], event: Any) -> tuple[tuple[T, Any], ...]:
            """Compute (folding key-only rules) and memoize the candidates of a key of plain strings or None."""
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            found = memo[key] = compute(event, fold=True)
            return found

        def pairs(event: Any) -> Sequence[tuple[T, Any]]:
            # The common case, an event whose key is remembered: the key the header pass read, or else the key
            # ``general`` would build, read from the decoded event with plain subscripts. Anything else (a field
            # absent, not an object, a new key) goes the general way.
            try:
                return memo[event.key]
            except KeyError:  # the header pass's key is the key ``general`` builds, already of plain strings
                return remember(event.key, event)
            except AttributeError:  # an event decoded whole at once
                pass
            obj = event.obj
            try:
                ref = obj["objectRef"]
                return memo[(obj["verb"], obj["stage"], ref["resource"], ref.get("subresource"),
                             obj["user"]["username"])]
            except (KeyError, TypeError, AttributeError):
                return general(event)

        def lookup(event: Any) -> Sequence[T]:
            return tuple(item for item, _ in pairs(event))

        lookup.pairs = pairs  # type: ignore[attr-defined]
        lookup.constraints = constraints  # type: ignore[attr-defined]  # for describe/debug output
        lookup.folded = frozenset(folded)  # type: ignore[attr-defined]
        return lookup
