"""Resolving operands against a field table: which ``FieldSpec`` a field reference means, its argument, and
the value type an operand (field or transformer) yields.

Owns: ``field_table``, ``resolve_field``, ``operand_type`` and the transformer typing rules. Shared by the
type checker and the code generator so both read a field the same way.

Must not: evaluate anything or word load findings (``checker`` does).

Dotted arguments: a name that is not in the table but starts with a field declared ``dotted_arg`` plus a dot
(``k8s.pod.label.app``, ``evt.arg.flags``) means that field with the rest as its argument; the longest such
prefix wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.condition.ast import FieldRef, Transform, Value
from engine.fields.base import ArgKind, ArgMode, FieldSpec, FieldType

FieldTable = Mapping[str, FieldSpec]

STRING_TYPES = frozenset(
    {FieldType.STRING, FieldType.FSPATH, FieldType.FLAGS, FieldType.SYSCALLID, FieldType.SIGTYPE}
)


class ResolveError(ValueError):
    """An operand that cannot be resolved; the message is Falco-worded where Falco has a wording."""


@dataclass(frozen=True, slots=True)
class OperandType:
    type: FieldType
    is_list: bool


def field_table(source: str, fields: FieldTable | None) -> FieldTable:
    if fields is not None:
        return fields
    from engine.fields import fields_for_source

    return fields_for_source(source)


def resolve_field(ref: FieldRef, table: FieldTable) -> tuple[FieldSpec, int | str | None]:
    """The spec and the converted argument of ``ref``; raises ``ResolveError``."""
    spec = table.get(ref.name)
    raw = ref.arg
    if spec is None:
        parts = ref.name.split(".")
        for k in range(len(parts) - 1, 1, -1):
            cand = table.get(".".join(parts[:k]))
            if cand is not None and cand.dotted_arg and ref.arg is None:
                spec, raw = cand, ".".join(parts[k:])
                break
    if spec is None:
        raise ResolveError(f"filter_check called with nonexistent field {ref.name}")
    return spec, _convert_arg(spec, raw)


def _convert_arg(spec: FieldSpec, raw: str | None) -> int | str | None:
    if raw is None:
        if spec.arg is ArgMode.REQUIRED:
            raise ResolveError(f"field '{spec.name}' requires an argument but none provided")
        return None
    if spec.arg is ArgMode.NONE:
        raise ResolveError(f"field '{spec.name}' does not accept an argument (got '{raw}')")
    if spec.arg_kind is ArgKind.INDEX or (spec.arg_kind is ArgKind.INDEX_OR_KEY and raw.isdigit()):
        if not raw.isdigit():
            raise ResolveError(f"field '{spec.name}' needs a numeric index argument, got '{raw}'")
        return int(raw)
    return raw


def operand_type(operand: FieldRef | Transform | Value, table: FieldTable) -> OperandType:
    """The type an operand yields; raises ``ResolveError`` for unknown fields or misused transformers."""
    if isinstance(operand, FieldRef):
        spec, _ = resolve_field(operand, table)
        return OperandType(spec.type, spec.is_list)
    if isinstance(operand, Value):
        return OperandType(FieldType.STRING, False)
    return _transform_type(operand, table)


def _transform_type(node: Transform, table: FieldTable) -> OperandType:
    name = node.name
    inner = [operand_type(a, table) for a in node.args]
    if name == "val":
        return inner[0]
    if name in ("tolower", "toupper", "basename", "b64", "len"):
        arg = inner[0]
        allowed = arg.type in STRING_TYPES or (name in ("b64", "len") and arg.type is FieldType.BYTEBUF)
        if name == "len" and arg.is_list:
            allowed = True
        if not allowed:
            raise ResolveError(
                f"can't add field transformer: type '{arg.type.value}' is not supported by '{name}' transformer "
                f"applied on {'list ' if arg.is_list else ''}field '{_field_name(node.args[0])}'"
            )
        if name == "len":
            return OperandType(FieldType.UINT64, False)
        return OperandType(FieldType.STRING, arg.is_list)
    if name == "join":
        if len(node.args) != 2 or not isinstance(node.args[0], Value):
            raise ResolveError("transformer 'join' takes a separator string and one field: join(sep, field)")
        return OperandType(FieldType.STRING, False)
    if name == "concat":
        if len(node.args) < 2:
            raise ResolveError("transformer 'concat' takes at least two arguments")
        for t in inner:
            if t.is_list:
                raise ResolveError("transformer 'concat' does not accept list fields")
        return OperandType(FieldType.STRING, False)
    raise ResolveError(f"unknown transformer '{name}'")


def _field_name(operand: FieldRef | Transform | Value) -> str:
    """The field a (possibly nested) transformer argument reads, for messages."""
    while isinstance(operand, Transform):
        operand = operand.args[-1]
    return operand.name if isinstance(operand, FieldRef) else operand.text
