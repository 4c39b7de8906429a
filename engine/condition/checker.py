"""Type checking of a (macro-expanded) condition against a source's field table.

Owns: ``check(node, source, *, fields=None) -> list[str]`` — every problem found, as Falco-like sentences
(an empty list means the condition compiles). It reports unknown fields with Falco's wording
(``filter_check called with nonexistent field X``), argument problems, operators the field's type does not
support (after libsinsp's per-type tables: numeric, bool, IP, string, buffer), misplaced or mistyped
transformers (Falco's wording), right-hand-side fields of another type family or list-ness, literals that do
not parse for the type (numbers, bools, IPs/CIDRs, hex for ``bcontains``/``bstartswith``, regular
expressions) and macro names still present (the rules loader should have substituted them).

Leniency, on purpose: on list fields the scalar operators (``=``, ``contains``, ``startswith``...) are allowed
and match when any element matches (libsinsp only allows ``in``/``intersects``/``exists`` there); a
right-hand-side field needs the same type *family* (string/numeric/...), not the identical type.

Must not: raise on bad conditions (it collects) or generate code.
"""

from __future__ import annotations

import re

from engine.condition.ast import (
    LIST_OPS,
    Compare,
    FieldRef,
    ListValue,
    MacroRef,
    Node,
    Transform,
    Value,
)
from engine.condition.resolve import (
    STRING_TYPES,
    FieldTable,
    OperandType,
    ResolveError,
    field_table,
    operand_type,
)
from engine.condition.values import ValueError_, convert_value
from engine.condition.walk import leaves
from engine.fields.base import FieldType

_NUMERIC_OPS = frozenset({"=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "exists"})
_EQ_OPS = frozenset({"=", "==", "!=", "in", "intersects", "exists"})
_STRING_OPS = frozenset(
    {
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "contains",
        "icontains",
        "startswith",
        "endswith",
        "glob",
        "iglob",
        "regex",
        "pmatch",
        "in",
        "intersects",
        "exists",
    }
)
_BUFFER_OPS = frozenset(
    {
        "=",
        "==",
        "!=",
        "contains",
        "bcontains",
        "startswith",
        "bstartswith",
        "endswith",
        "in",
        "intersects",
        "exists",
    }
)


def family(ftype: FieldType) -> str:
    """The operator family of a type: numeric, bool, ip, string or buffer."""
    if ftype in STRING_TYPES:
        return "string"
    if ftype.is_numeric:
        return "numeric"
    if ftype is FieldType.BOOL:
        return "bool"
    if ftype in (FieldType.IPADDR, FieldType.IPNET):
        return "ip"
    return "buffer"


_ALLOWED = {
    "numeric": _NUMERIC_OPS,
    "bool": _EQ_OPS,
    "ip": _EQ_OPS,
    "string": _STRING_OPS,
    "buffer": _BUFFER_OPS,
}
_FAMILY_WORDS = {
    "numeric": "numeric",
    "bool": "numeric",
    "ip": "ip address and network",
    "string": "string",
    "buffer": "buffer",
}


def operator_error(op: str, ftype: FieldType) -> str | None:
    fam = family(ftype)
    if op in _ALLOWED[fam]:
        return None
    return f"'{op}' operator not supported for {_FAMILY_WORDS[fam]} filters"


def check(node: Node, source: str, *, fields: FieldTable | None = None) -> list[str]:
    """Every type/operator/field problem in ``node`` for ``source`` (empty list = ok)."""
    table = field_table(source, fields)
    errors: list[str] = []
    for leaf in leaves(node):
        if isinstance(leaf, MacroRef):
            errors.append(f"Undefined macro '{leaf.name}' used in filter.")
        else:
            errors.extend(_check_compare(leaf, table))
    return errors


def _check_compare(node: Compare, table: FieldTable) -> list[str]:
    if isinstance(node.left, Transform) and node.left.name == "val":
        return ["'val' transformer can only be used on the right-hand side of a comparison"]
    try:
        left = operand_type(node.left, table)
    except ResolveError as exc:
        return [str(exc)]
    if node.op == "exists":
        return []
    err = operator_error(node.op, left.type)
    if err is not None:
        return [err]
    right = node.right
    if isinstance(right, Transform):
        return _check_rhs_transform(node, left, right, table)
    values = right.items if isinstance(right, ListValue) else (right,) if isinstance(right, Value) else ()
    if node.op not in LIST_OPS and node.modifier is None and isinstance(right, ListValue):
        return [f"operator '{node.op}' expects a single value, not a list"]
    return [msg for v in values if (msg := _check_value(node.op, v.text, left.type)) is not None]


def _check_value(op: str, text: str, ftype: FieldType) -> str | None:
    if op in ("bcontains", "bstartswith"):
        try:
            bytes.fromhex(text)
        except ValueError:
            return f"'{op}' takes hexadecimal digits (like CAFEBABE), got '{text}'"
        return None
    if op == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            return f"invalid regular expression '{text}': {exc}"
        return None
    if ftype in (FieldType.IPADDR,) and op in ("in", "intersects", "=", "==", "!="):
        # libsinsp accepts networks on the right of an address field in lists; an address is a /32.
        ftype = FieldType.IPNET if "/" in text else FieldType.IPADDR
    try:
        convert_value(text, ftype)
    except ValueError_ as exc:
        return str(exc)
    return None


def _check_rhs_transform(node: Compare, left: OperandType, right: Transform, table: FieldTable) -> list[str]:
    try:
        rtype = operand_type(right, table)
    except ResolveError as exc:
        return [str(exc)]
    if family(rtype.type) != family(left.type) or rtype.is_list != left.is_list:
        message = (
            f"field '{_name(node.left)}' has type '{_type_words(left)}' while the right-hand side field "
            f"'{_name(right)}' has incompatible type '{_type_words(rtype)}'"
        )
        return [message]
    return []


def _name(operand: FieldRef | Transform) -> str:
    while isinstance(operand, Transform):
        inner = operand.args[-1]
        if not isinstance(inner, (FieldRef, Transform)):
            return operand.name
        operand = inner
    return operand.name


def _type_words(t: OperandType) -> str:
    return t.type.value + (" (list)" if t.is_list else "")
