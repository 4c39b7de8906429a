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

The upstream rules spell "always" as ``jevt.rawtime exists`` and "never" as ``jevt.rawtime=0`` (macros that switch
rules on and off). Both are constants for every event not stamped at the epoch, which is all real traffic, so the
index folds them first (``assume_timed``): a rule switched off that way is no candidate, and the idiom is not
evaluated per event. An event stamped at the epoch is looked up in a second index over the rules as written.

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
from typing import TYPE_CHECKING, Generic, TypeVar, cast

from engine.events.k8s_audit import HeaderEvent

if TYPE_CHECKING:
    from types import ModuleType

    from engine.events.base import Event
    from engine.events.k8s_audit import AuditEvent

T = TypeVar("T")
# A condition node is whatever the ``shape`` function classifies (the real AST's nodes by default; tests give
# their own), so it is an ``object`` here; ``Shape`` is the classification (see ``_shape``).
Shape = tuple[str, object]
ShapeFn = Callable[[object], Shape]
Comparison = tuple[str, str, tuple[str, ...]]  # the payload of a "cmp" shape: (field, operator, literals)
Matcher = Callable[["Event"], bool]

# Indexed key -> the field whose (string) value an event is looked up by. Conditions may name the stage either way.
INDEXED_FIELDS: Mapping[str, str] = {"ka.verb": "ka.verb", "ka.target.resource": "ka.target.resource",
                                     "ka.target.subresource": "ka.target.subresource",
                                     "ka.user.name": "ka.user.name", "ka.stage": "ka.stage"}
_ALIASES: Mapping[tuple[str, str | None], str] = {("jevt.value", "/stage"): "ka.stage",
                                                  ("json.value", "/stage"): "ka.stage"}
_MEMO_LIMIT = 8192  # distinct (verb, stage, resource, subresource, user) keys remembered before a reset

Constraint = dict[str, frozenset[str]]  # field -> allowed values; a field not present is unconstrained


def _shape(node: object) -> Shape:
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


def _operand_refs(node: object, ast: ModuleType, out: set[str]) -> None:
    if isinstance(node, ast.FieldRef):
        out.add(_ALIASES.get((node.name, node.arg)) or
                (node.name if node.arg is None else f"{node.name}[{node.arg}]"))
    elif isinstance(node, ast.Transform):
        for arg in node.args:
            _operand_refs(arg, ast, out)


def _literal_values(node: object, ast: ModuleType) -> tuple[str, ...] | None:
    if isinstance(node, ast.Value):
        return (node.text,)
    if isinstance(node, ast.ListValue) and all(isinstance(item, ast.Value) for item in node.items):
        return tuple(item.text for item in node.items)
    return None


def constraint(node: object, *, shape: ShapeFn = _shape) -> Constraint:
    """The values of the indexed fields an event must have for ``node`` to be true (conservative)."""
    kind, payload = shape(node)
    if kind == "and":
        out: Constraint = {}
        for child in _children(payload):
            for fld, allowed in constraint(child, shape=shape).items():
                out[fld] = out[fld] & allowed if fld in out else allowed
        return out
    if kind == "or":
        parts = [constraint(child, shape=shape) for child in _children(payload)]
        if not parts:
            return {}
        common = set(parts[0]).intersection(*parts[1:])
        return {fld: frozenset().union(*(p[fld] for p in parts)) for fld in common}
    if kind == "cmp":
        fld, op, values = cast("Comparison", payload)
        if fld in INDEXED_FIELDS and (op in ("=", "==") and len(values) == 1 or op == "in"):
            return {fld: frozenset(values)}
    return {}  # "not", other operators, other fields: no constraint


def reads(node: object, *, shape: ShapeFn = _shape) -> frozenset[str] | None:
    """The fields ``node`` reads (``jevt.value[/stage]`` counted as ``ka.stage``); None when not known."""
    kind, payload = shape(node)
    if kind in ("and", "or"):
        out: set[str] = set()
        for child in _children(payload):
            got = reads(child, shape=shape)
            if got is None:
                return None
            out |= got
        return frozenset(out)
    if kind == "not":
        return reads(payload, shape=shape)
    if kind == "cmp":
        return frozenset({cast("Comparison", payload)[0]})
    return cast("frozenset[str] | None", payload)


def membership(node: object, *, shape: ShapeFn = _shape) -> tuple[str, frozenset[str]] | None:
    """``(field, values)`` when ``node`` is exactly "the indexed field's value is one of ``values``" (a ``=`` or
    ``in`` comparison with literals, or an ``or`` of such comparisons on one field); None otherwise."""
    kind, payload = shape(node)
    if kind == "cmp":
        got = constraint(node, shape=shape)
        return next(iter(got.items())) if len(got) == 1 else None
    if kind == "or":
        parts = [membership(child, shape=shape) for child in _children(payload)]
        found = [p for p in parts if p is not None]
        if found and len(found) == len(parts) and len({p[0] for p in found}) == 1:
            return found[0][0], frozenset().union(*(p[1] for p in found))
    return None


def residual_conjuncts(node: object, cons: Constraint, *, shape: ShapeFn = _shape) -> list[object] | None:
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


def _flatten_and(node: object, shape: ShapeFn) -> list[object]:
    kind, payload = shape(node)
    if kind != "and":
        return [node]
    return [leaf for child in _children(payload) for leaf in _flatten_and(child, shape)]


def _children(payload: object) -> Sequence[object]:
    """The children of an "and" or "or" shape (a sequence of nodes)."""
    return cast("Sequence[object]", payload)


def _compile_conjunction(nodes: list[object]) -> Matcher:
    """The real AST's residual matcher: the conjunction of ``nodes`` compiled for the k8s_audit source."""
    from engine.condition import ast, compile_condition

    conjuncts = cast("list[ast.Node]", nodes)  # nodes of the real AST: this is the default shape's conjunction
    return compile_condition(conjuncts[0] if len(conjuncts) == 1 else ast.And(tuple(conjuncts)), "k8s_audit")


def _always(event: Event) -> bool:
    return True


_TIME_FIELDS = frozenset({"jevt.rawtime", "json.rawtime"})


def assume_timed(node: object) -> object | None:
    """``node`` (the real AST) for an event whose time is not the epoch, which is every event a cluster sends:
    ``jevt.rawtime exists`` (true for every audit event: the decoder rejects one without a time), ``jevt.rawtime
    = 0`` (false) and ``jevt.rawtime != 0`` (true) -- the upstream rules' always-true and never-true idioms -- are
    folded and the ``and``/``or``/``not`` around them simplified. Gives ``node`` itself when nothing folds,
    ``And(())`` when the whole condition holds and None when it cannot hold."""
    from engine.condition import ast

    def fold(n: ast.Node) -> ast.Node | bool:
        if isinstance(n, ast.Not):
            child = fold(n.child)
            return (not child) if type(child) is bool else (n if child is n.child else ast.Not(child))
        if isinstance(n, (ast.And, ast.Or)):
            decides = isinstance(n, ast.Or)  # the child value that decides the whole node
            kids: list[ast.Node] = []
            for c in n.children:
                f = fold(c)
                if type(f) is bool:
                    if f is decides:
                        return decides
                    continue
                kids.append(f)
            if len(kids) == len(n.children) and all(k is c for k, c in zip(kids, n.children, strict=True)):
                return n
            if not kids:
                return not decides
            return kids[0] if len(kids) == 1 else type(n)(tuple(kids))
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.FieldRef) and n.left.name in _TIME_FIELDS \
                and n.left.arg is None and n.modifier is None:
            if n.op == "exists":
                return True
            if isinstance(n.right, ast.Value) and n.right.text == "0" and n.op in ("=", "==", "!="):
                return n.op == "!="
        return n

    got = fold(cast("ast.Node", node))  # the real AST: this is the default shape's assumption
    if got is True:
        return ast.And(())
    return None if got is False else got


class K8sAuditIndexer(Generic[T]):
    """Build a ``lookup(event) -> items`` over ordered ``(item, condition_ast)`` entries.

    ``lookup.pairs(event)`` gives the same candidates as ``(item, matcher)`` pairs: the matcher is the item's
    condition without the top-level conjuncts the index already guarantees for a candidate (``ka.verb = create``
    when only create events reach the rule), or a constant true for a folded rule known to match the key.
    """

    source = "k8s_audit"

    def __init__(self, *, shape: ShapeFn = _shape, predicate: Callable[[T], Matcher | None] | None = None,
                 conjunction: Callable[[list[object]], Matcher] | None = None,
                 assume: Callable[[object], object | None] | None = None) -> None:
        self._shape = shape
        # A condition as it reads for an event not stamped at the epoch (None: it cannot hold for one).
        self._assume = assume or (assume_timed if shape is _shape else None)
        # How to evaluate an item, for rules whose result depends on the memo key alone (see ``build``).
        self._predicate = predicate or (lambda item: getattr(item, "match", None))
        # How to evaluate a list of conjuncts (a residual condition); without it, items keep their predicate.
        self._conjunction = conjunction or (_compile_conjunction if shape is _shape else None)

    def _residual(self, node: object, cons: Constraint, full: Matcher | None) -> Matcher | None:
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

    def build(self, entries: Sequence[tuple[T, object]]) -> Callable[[Event], Sequence[T]]:
        items = [item for item, _ in entries]
        nodes = [node for _, node in entries]
        predicates = [self._predicate(item) for item in items]
        every = self._lookup(items, nodes, predicates, None)
        timed_nodes = [self._assume(node) for node in nodes] if self._assume is not None else nodes
        if all(t is n for t, n in zip(timed_nodes, nodes, strict=True)):
            return every
        # Events not stamped at the epoch (all real traffic) go through the rules with the time idioms folded
        # away; an epoch-stamped event goes through the rules as written.
        keep = [i for i, node in enumerate(timed_nodes) if node is not None]
        matchers = [predicates[i] if timed_nodes[i] is nodes[i] else self._matcher(timed_nodes[i], predicates[i])
                    for i in keep]
        timed = self._lookup([items[i] for i in keep], [timed_nodes[i] for i in keep], matchers,
                             every.pairs)  # type: ignore[attr-defined]
        timed.folded = frozenset(keep[i] for i in timed.folded)  # type: ignore[attr-defined]
        timed.constraints = every.constraints  # type: ignore[attr-defined]
        return timed

    def _matcher(self, node: object, full: Matcher | None) -> Matcher | None:
        """The compiled form of a condition simplified by ``assume`` (``full``, the rule's own, when it cannot be
        built: it gives the same results)."""
        if full is None or self._conjunction is None:
            return full
        if reads(node, shape=self._shape) == frozenset():
            return _always  # nothing left to read: the simplified condition is the empty conjunction
        try:
            return self._conjunction([node])
        except Exception:  # noqa: BLE001 - the full condition is always right
            return full

    def _lookup(self, items: list[T], nodes: list[object], predicates: list[Matcher | None],
                epoch: Callable[[AuditEvent], Sequence[tuple[T, Matcher | None]]] | None,
                ) -> Callable[[Event], Sequence[T]]:
        """The lookup over ``items`` with conditions ``nodes`` and full matchers ``predicates``; ``epoch``: the
        pairs for an event stamped at the epoch, when these nodes assume it is not."""
        from engine.fields import lookup as field_lookup

        constraints = [constraint(node, shape=self._shape) for node in nodes]
        everything = (1 << len(items)) - 1
        tables: list[tuple[Callable[..., object], dict[object, int], int]] = []
        for key, field_name in INDEXED_FIELDS.items():
            pinned = [(i, c[key]) for i, c in enumerate(constraints) if key in c]
            if not pinned:
                continue  # no rule pins this field: reading it would only cost time
            free = everything
            for i, _ in pinned:
                free &= ~(1 << i)
            by_value: dict[object, int] = {}  # a field's value (a string) -> the rules it allows
            for i, allowed in pinned:
                for value in allowed:
                    by_value[value] = by_value.get(value, free) | (1 << i)
            spec = field_lookup("k8s_audit", field_name)
            assert spec is not None, field_name
            tables.append((spec.extract, by_value, free))
        # Rules that read only the memo-key fields have one result per key: evaluate them once per key and
        # keep them as candidates only where they matched (with a constant-true matcher: the key decided it).
        keyed = frozenset(INDEXED_FIELDS)
        folded: dict[int, Matcher] = {}
        for i, node in enumerate(nodes):
            fields_read = reads(node, shape=self._shape)
            pred = predicates[i]
            if fields_read is not None and fields_read <= keyed and pred is not None:
                folded[i] = pred
        # Every candidate meets its constraint (the tables only offer it for allowed values), so the conjuncts
        # that say no more than that need not run again.
        residuals = [self._residual(node, constraints[i], predicates[i]) for i, node in enumerate(nodes)]
        # Candidates per (mask, folded true, folded failing), as (item, matcher) pairs.
        by_mask: dict[tuple[int, int, int], tuple[tuple[T, Matcher | None], ...]] = {}
        memo: dict[tuple[object, ...], tuple[tuple[T, Matcher | None], ...]] = {}

        def compute(event: AuditEvent, *, fold: bool = False) -> tuple[tuple[T, Matcher | None], ...]:
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

        def general(event: AuditEvent) -> tuple[tuple[T, Matcher | None], ...]:
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

        def remember(key: tuple[object, ...], event: AuditEvent) -> tuple[tuple[T, Matcher | None], ...]:
            """Compute (folding key-only rules) and memoize the candidates of a key of plain strings or None."""
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            found = memo[key] = compute(event, fold=True)
            return found

        def pairs(event: AuditEvent) -> Sequence[tuple[T, Matcher | None]]:
            # The common case, an event read through its header whose key is remembered; an event decoded whole
            # goes the general way (its key read from the decoded object).
            if type(event) is HeaderEvent:
                # Its time is computed only for an event near the epoch (the header's checked datetime says so).
                if epoch is not None and event.stageTimestamp.year <= 1970 and event.ts == 0:
                    return epoch(event)
                ref = event.objectRef  # the memo key (verb, stage, resource, subresource, user name)
                key = (event.verb, event.stage, ref.resource, ref.subresource, event.user.username)
                try:
                    return memo[key]
                except KeyError:  # the header's key is the key ``general`` builds, already of plain strings
                    return remember(key, event)
            if epoch is not None and event.ts == 0:
                return epoch(event)
            return general(event)

        def lookup(event: AuditEvent) -> Sequence[T]:
            return tuple(item for item, _ in pairs(event))

        lookup.pairs = pairs  # type: ignore[attr-defined]
        lookup.constraints = constraints  # type: ignore[attr-defined]  # for describe/debug output
        lookup.folded = frozenset(folded)  # type: ignore[attr-defined]
        # The ruleset calls it with its generic ``Event``; this source's events are ``AuditEvent``s.
        return cast("Callable[[Event], Sequence[T]]", lookup)
