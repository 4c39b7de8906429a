"""Code generation: a checked condition becomes one Python function, compiled once per rule.

Owns: ``compile_condition(node, source, *, fields=None) -> Callable[[event], bool]`` and
``ConditionTypeError``. The whole condition becomes a single ``return`` expression inside a closure whose
free variables are the hoisted constants (extractors, converted values, sets, compiled regexes and globs),
so evaluation costs little beyond the extractor calls. A field used more than once is extracted at most once
per evaluation (a local initialised to a sentinel and filled on first use, whichever branch gets there).

Semantics (Falco's): a missing value (None, or an empty list for list fields) makes every comparison false and
``not`` flips that; ``exists`` tests presence; on list fields ``in`` means every element is in the set,
``intersects`` that one is, and other operators match when any element matches; ``oneof``/``anyof`` match
when the operator holds for at least one listed value, ``allof`` when it holds for all of them. The generated
source is kept on the function as ``__condition_source__`` for debugging.

Extractor hooks (optional attributes of a field's extractor): ``inline(arg, event, call) -> str | None`` gives
an expression equivalent to the call; ``int_text(arg, event) -> str | None`` says the value is always the
decimal text of that integer expression, so equality and membership against literals compare integers.

Must not: parse text, substitute macros or lists, or know the rules file format.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from engine.condition import ops
from engine.condition.ast import And, Compare, FieldRef, ListValue, MacroRef, Node, Not, Or, Transform, Value
from engine.condition.checker import check
from engine.condition.printer import to_string
from engine.condition.resolve import FieldTable, field_table, operand_type, resolve_field
from engine.condition.values import convert_value
from engine.fields.base import FieldType

if TYPE_CHECKING:
    from engine.events.base import Event

_INLINE_TYPES = (str, int, float, bool, bytes)
_UNSET = object()
_IP_TYPES = (FieldType.IPADDR, FieldType.IPNET)
_X = "\0"  # placeholder for the value in predicate templates; repr() never yields a raw NUL


class ConditionTypeError(ValueError):
    """A condition that does not type-check; ``errors`` holds every problem ``check`` found."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def compile_condition(node: Node, source: str, *, fields: FieldTable | None = None) -> Callable[[Event], bool]:
    """Check ``node`` for ``source`` and return a function ``event -> bool``; raises ``ConditionTypeError``."""
    table = field_table(source, fields)
    errors = check(node, source, fields=table)
    if errors:
        raise ConditionTypeError(errors)
    gen = _Generator(table)
    gen.count_fields(node)
    body = gen.node(node)
    params = ", ".join(gen.consts) or ""
    cached = "".join(f"        {v} = _U\n" for v in gen.cached_vars)
    src = (
        f"def _factory({params}):\n"
        f"    def condition(e):\n"
        f"{cached}"
        f"        return True if {body} else False\n"
        f"    return condition\n"
    )
    namespace: dict[str, Any] = {}
    exec(compile(src, f"<condition {to_string(node)[:60]}>", "exec"), namespace)  # noqa: S102 - our own source
    fn = namespace["_factory"](*gen.consts.values())
    fn.__condition_source__ = src
    return fn  # type: ignore[no-any-return]


class _Generator:
    def __init__(self, table: FieldTable) -> None:
        self.table = table
        self.consts: dict[str, Any] = {"_U": _UNSET}
        self._const_ids: dict[tuple[str, Any], str] = {}
        self.uses: Counter[tuple[str, Any]] = Counter()
        self.cached_vars: list[str] = []
        self._cache_names: dict[tuple[str, Any], str] = {}
        self._tmp = 0

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def const(self, value: Any, *, hint: str = "K") -> str:
        if type(value) in _INLINE_TYPES:
            return repr(value)
        key = (hint, id(value) if not isinstance(value, (frozenset, tuple)) else value)
        name = self._const_ids.get(key)
        if name is None:
            name = f"{hint}{len(self.consts)}"
            self.consts[name] = value
            self._const_ids[key] = name
        return name

    def temp(self) -> str:
        self._tmp += 1
        return f"_t{self._tmp}"

    def count_fields(self, node: object) -> None:
        if isinstance(node, (And, Or)):
            for c in node.children:
                self.count_fields(c)
        elif isinstance(node, Not):
            self.count_fields(node.child)
        elif isinstance(node, Compare):
            self.count_fields(node.left)
            if node.right is not None:
                self.count_fields(node.right)
        elif isinstance(node, Transform):
            for a in node.args:
                self.count_fields(a)
        elif isinstance(node, FieldRef):
            spec, arg = resolve_field(node, self.table)
            self.uses[(spec.name, arg)] += 1

    # -- expressions -------------------------------------------------------------------------------------------
    def node(self, node: Node) -> str:
        if isinstance(node, And):
            return "(" + " and ".join(self.node(c) for c in node.children) + ")"
        if isinstance(node, Or):
            return "(" + " or ".join(self.node(c) for c in node.children) + ")"
        if isinstance(node, Not):
            return "(not " + self.node(node.child) + ")"
        if isinstance(node, MacroRef):  # unreachable after check(); kept for safety
            raise ConditionTypeError([f"Undefined macro '{node.name}' used in filter."])
        return self.compare(node)

    def operand(self, node: FieldRef | Transform | Value) -> str:
        if isinstance(node, Value):
            return repr(node.text)
        if isinstance(node, Transform):
            if node.name == "val":
                return self.operand(node.args[0])
            fn = self.const(ops.TRANSFORMERS[node.name], hint="T")
            return f"{fn}(" + ", ".join(self.operand(a) for a in node.args) + ")"
        spec, arg = resolve_field(node, self.table)
        call = f"{self.const(spec.extract, hint='X')}(e, {arg!r})"
        inline = getattr(spec.extract, "inline", None)  # an extractor may offer an equivalent inline expression
        if inline is not None:
            call = inline(arg, "e", call) or call
        key = (spec.name, arg)
        if self.uses[key] < 2:
            return call
        var = self._cache_names.get(key)
        if var is None:
            var = f"_v{len(self._cache_names)}"
            self._cache_names[key] = var
            self.cached_vars.append(var)
        return f"({var} if {var} is not _U else ({var} := {call}))"

    def compare(self, node: Compare) -> str:
        left = operand_type(node.left, self.table)
        special = self._int_text_compare(node)
        if special is not None:
            return special
        value = self.operand(node.left)
        if node.op == "exists":
            return f"bool({value})" if left.is_list else f"({value} is not None)"
        if isinstance(node.right, Transform):
            fn = self.const(ops.compare_dynamic, hint="D")
            return f"{fn}({node.op!r}, {value}, {self.operand(node.right)})"
        right = node.right
        texts = [v.text for v in right.items] if isinstance(right, ListValue) else [right.text]  # type: ignore[union-attr]
        etype = left.type
        t = self.temp()
        op = node.op
        if op == "in" and isinstance(node.left, FieldRef) and resolve_field(node.left, self.table)[0].match_any:
            op = "intersects"  # alternatives (any ancestor, either end): one value in the set is enough
        if op in ("in", "intersects") or (op in ("=", "==") and node.modifier is None):
            if etype in _IP_TYPES:
                return self._ip_membership(op, value, texts, t, is_list=left.is_list)
            if op in ("in", "intersects"):
                values = frozenset(self._convert(texts, etype, op))
                s = self.const(values, hint="S")
                if not left.is_list:
                    return f"({value} in {s})"
                if op == "in":
                    return f"(({t} := {value}) and {s}.issuperset({t}))"
                return f"(({t} := {value}) and not {s}.isdisjoint({t}))"
        if node.op == "pmatch":
            table = ", ".join(self.const(part, hint="S") for part in ops.pmatch_prefixes(texts))
            pred = f"{self.const(ops.pmatch, hint='P')}({_X}, {table})"
            return self._wrap(value, t, [pred], "any", is_list=left.is_list)
        join = "all" if node.modifier == "allof" else "any"
        if etype in _IP_TYPES:  # '!=' and modified comparisons; plain membership was handled above
            preds = [self._ip_pred(node.op, text) for text in texts]
            return self._wrap(value, t, preds, join, is_list=left.is_list)
        consts = self._convert(texts, etype, node.op)
        if node.op in ("=", "==") and left.is_list and join == "any" and all(type(c) in (str, int) for c in consts):
            found = " or ".join(f"{self.const(c)} in {t}" for c in consts)  # an element equal to one of them
            return f"(({t} := {value}) and ({found}))"
        preds = [self._pred(node.op, c, etype) for c in consts]
        if node.op in ("=", "==") and not left.is_list and len(preds) == 1:
            return f"({value} == {self.const(consts[0])})"
        return self._wrap(value, t, preds, join, is_list=left.is_list)

    def _int_text_compare(self, node: Compare) -> str | None:
        """A text field that is the decimal rendering of an integer (the extractor's ``int_text`` hook gives the
        integer's expression; the value is never missing) compared by equality or membership with literals: an
        integer comparison. A literal that is not an integer's canonical text (``00``, ``+1``, ``1.0``, ``x``)
        can never equal the rendering, so it drops out (no literal left: the comparison is constant)."""
        if not isinstance(node.left, FieldRef) or node.modifier is not None:
            return None
        op = node.op
        if op not in ("exists", "=", "==", "!=", "in"):
            return None
        spec, arg = resolve_field(node.left, self.table)
        hook = getattr(spec.extract, "int_text", None)
        if hook is None or spec.is_list or not isinstance(node.right, (Value, ListValue, type(None))):
            return None
        expr = hook(arg, "e")
        if expr is None:
            return None
        if op == "exists":
            return f"({expr} is not None)"
        right = node.right
        texts = [v.text for v in right.items] if isinstance(right, ListValue) else [right.text]  # type: ignore[union-attr]
        ints = [n for n in map(_canonical_int, texts) if n is not None]
        if op == "in":
            return f"({expr} in {self.const(frozenset(ints), hint='S')})" if ints else "False"
        if len(texts) != 1:
            return None
        if not ints:
            return "False" if op != "!=" else f"({expr} is not None)"
        return f"({expr} {'!=' if op == '!=' else '=='} {ints[0]!r})"

    def _ip_pred(self, op: str, text: str) -> str:
        """A predicate template: the address equals ``text`` (or lies in it, for a network); negated for '!='."""
        addrs, nets = _ip_split([text])
        call = f"{self.const(ops.ip_in, hint='I')}({_X}, {self.const(addrs, hint='S')}, {self.const(nets, hint='S')})"
        return f"not {call}" if op == "!=" else call

    def _wrap(self, value: str, t: str, preds: list[str], join: str, *, is_list: bool) -> str:
        word = " and " if join == "all" else " or "
        if is_list:
            body = word.join(p.replace(_X, "_x") for p in preds)
            one = word.join(p.replace(_X, f"{t}[0]") for p in preds)  # a one-element list needs no generator
            return f"(({t} := {value}) and (({one}) if type({t}) is list and len({t}) == 1 else any({body} for _x in {t})))"
        body = word.join(p.replace(_X, t) for p in preds)
        return f"(({t} := {value}) is not None and ({body}))"

    def _pred(self, op: str, c: Any, etype: FieldType) -> str:
        """A predicate template on the ``_X`` placeholder (one non-missing value) for ``op`` against constant ``c``."""
        bytes_mode = etype is FieldType.BYTEBUF
        x = f"{self.const(ops.as_bytes, hint='B')}({_X})" if bytes_mode else _X
        if op in ("=", "==", "in", "intersects"):
            return f"{x} == {self.const(c)}"
        if op in ("!=", "<", "<=", ">", ">="):
            return f"{x} {op} {self.const(c)}"
        if op in ("contains", "bcontains"):
            return f"{self.const(c)} in {x}"
        if op == "icontains":
            return f"{self.const(c)} in {x}.lower()"
        if op in ("startswith", "bstartswith"):
            return f"{x}.startswith({self.const(c)})"
        if op == "endswith":
            return f"{x}.endswith({self.const(c)})"
        if op in ("glob", "iglob"):
            return f"{self.const(ops.glob_matcher(c, ignore_case=op == 'iglob'), hint='M')}({x}) is not None"
        if op == "regex":
            return f"{self.const(ops.regex_matcher(c), hint='M')}({x}) is not None"
        raise ConditionTypeError([f"'{op}' is not a supported comparison operator"])

    def _convert(self, texts: Iterable[str], etype: FieldType, op: str) -> list[Any]:
        if op in ("bcontains", "bstartswith"):
            return [bytes.fromhex(t) for t in texts]  # Falco takes these operands as hex digits
        if etype is FieldType.BYTEBUF:
            return [t.encode("utf-8", "surrogateescape") for t in texts]
        if op in ("contains", "icontains", "startswith", "endswith", "glob", "iglob", "regex"):
            return [t.lower() if op == "icontains" else t for t in texts]
        return [convert_value(t, etype) for t in texts]

    def _ip_membership(self, op: str, value: str, texts: list[str], t: str, *, is_list: bool) -> str:
        addrs, nets = _ip_split(texts)
        fn = self.const(ops.ip_in, hint="I")
        a, n = self.const(addrs, hint="S"), self.const(nets, hint="S")
        if not is_list:
            return f"{fn}({value}, {a}, {n})"
        quant = "all" if op == "in" else "any"
        return f"(({t} := {value}) and {quant}({fn}(_x, {a}, {n}) for _x in {t}))"


def _canonical_int(text: str) -> int | None:
    """``text`` as an int when it is exactly how Python (and Falco) print that int, else None."""
    try:
        number = int(text)
    except ValueError:
        return None
    return number if str(number) == text else None


def _ip_split(texts: Iterable[str]) -> tuple[frozenset[Any], tuple[Any, ...]]:
    """Addresses and networks (``a.b.c.d/n``) of an IP operand list, parsed once at compile time."""
    addrs: set[Any] = set()
    nets: list[Any] = []
    for text in texts:
        if "/" in text:
            nets.append(ipaddress.ip_network(text, strict=False))
        else:
            addrs.add(ipaddress.ip_address(text))
    return frozenset(addrs), tuple(nets)
