"""Rule exceptions: decoding an ``exceptions:`` block, validating it against a source, and writing the
``and not (...)`` text Falco appends to the rule's condition.

Owns: ``ExceptionInfo``, ``decode_exceptions`` (every form Falco accepts: fields as a list or one field,
comps as a list or one operator, values as tuples or single values), ``validate_exception`` and
``exception_condition``.

Must not: parse conditions (the compiler parses the text built here) or merge rules (the collector does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from engine import fields as field_registry
from engine.condition import lexer
from engine.condition.ast import ALL_OPS, FIELD_TRANSFORMERS, LIST_OPS, MODIFIER_OPS, MODIFIERS, VAL
from engine.rules.findings import (
    EXCEPTION,
    LOAD_APPEND_NO_VALUES,
    LOAD_ERR_VALIDATE,
    LOAD_ERR_YAML_VALIDATE,
    LOAD_EXCEPTION_NAME_NOT_UNIQUE,
    LOAD_UNKNOWN_KEY,
    FindingSink,
    LoadError,
    Position,
)
from engine.rules.reader import RawItem

_KEYS = ("name", "fields", "comps", "values")
_TRANSFORMER = re.compile(r"^\s*[a-z_0-9]+\(\s*(.*?)\s*\)\s*$")
_FIELD_ARG = re.compile(r"^([A-Za-z0-9_.]+)(?:\[.*\])?$")
_RHS_TRANSFORMER = re.compile(r"^([a-z_0-9]+)\(\S*\)$")
_RHS_TRANSFORMER_NAMES = frozenset((*FIELD_TRANSFORMERS, VAL))


# One exception value as decoded: a string, or (for a fields list) a list of them, nested as written.
ExceptionValue: TypeAlias = str | list["ExceptionValue"]


@dataclass(slots=True)
class ExceptionInfo:
    name: str
    pos: Position
    fields: str | list[str] | None = None
    comps: str | list[str] | None = None
    values: list[ExceptionValue] = field(default_factory=list)


def decode_exceptions(
    item: RawItem, rule_name: str, sink: FindingSink, *, append: bool
) -> list[ExceptionInfo]:
    """The exceptions of a rule item (``append`` items may leave out fields/comps)."""
    exs = item.data.get("exceptions")
    if exs is None:
        return []
    if not isinstance(exs, list):
        raise LoadError(
            LOAD_ERR_YAML_VALIDATE,
            "Rule exceptions must be a sequence",
            item.pos("exceptions", rule_name, "exceptions"),
        )
    out: list[ExceptionInfo] = []
    seen: set[str] = set()
    for i, ex in enumerate(exs):
        tmp = item.pos(EXCEPTION, "", "exceptions", i)
        if not isinstance(ex, dict):
            raise LoadError(LOAD_ERR_YAML_VALIDATE, "Rule exception must be a mapping", tmp)
        name = ex.get("name")
        if name is None or name == "":
            raise LoadError(LOAD_ERR_YAML_VALIDATE, "Item has no mapping for key 'name'", tmp)
        name = str(name)
        pos = item.pos(EXCEPTION, name, "exceptions", i)
        if name in seen:
            sink.warn(
                LOAD_EXCEPTION_NAME_NOT_UNIQUE,
                f"Multiple definitions of exception '{name}' in the same rule",
                pos,
            )
        seen.add(name)
        for key in ex:
            if key not in _KEYS:
                sink.warn(
                    LOAD_UNKNOWN_KEY, f"Unknown key '{key}'", item.pos(EXCEPTION, name, "exceptions", i, key)
                )
        info = ExceptionInfo(name, pos)
        if "fields" in ex:
            info.fields = _strings(ex["fields"], "fields", pos)
        elif not append:
            raise LoadError(LOAD_ERR_YAML_VALIDATE, "Item has no mapping for key 'fields'", pos)
        if "comps" in ex:
            info.comps = _strings(ex["comps"], "comps", pos)
        if "values" in ex:
            values = ex["values"]
            if not isinstance(values, list):
                raise LoadError(LOAD_ERR_YAML_VALIDATE, "Rule exception values must be a sequence", pos)
            info.values = [_value(v, pos) for v in values]
        elif append:
            sink.warn(LOAD_APPEND_NO_VALUES, "Overriding/appending exception with no values", pos)
        out.append(info)
    return out


def _strings(value: Any, key: str, pos: Position) -> str | list[str]:
    if isinstance(value, list):
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            raise LoadError(
                LOAD_ERR_YAML_VALIDATE, f"Rule exception {key} must be a string or a list of strings", pos
            )
        return [str(v) for v in value]
    if isinstance(value, (dict, bool)) or value is None:
        raise LoadError(
            LOAD_ERR_YAML_VALIDATE, f"Rule exception {key} must be a string or a list of strings", pos
        )
    return str(value)


def _value(value: Any, pos: Position) -> ExceptionValue:
    if isinstance(value, list):
        return [_value(v, pos) for v in value]
    if isinstance(value, dict) or value is None:
        raise LoadError(
            LOAD_ERR_YAML_VALIDATE, "Rule exception values must be strings or lists of strings", pos
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_operator(text: str) -> bool:
    """An exception comparison: a condition operator, or a string operator followed by a modifier
    (``startswith oneof``); ordering, list and unary operators take no modifier (``>= oneof`` is not one)."""
    parts = text.split()
    if len(parts) == 1:
        return parts[0] in ALL_OPS
    return len(parts) == 2 and parts[0] in MODIFIER_OPS and parts[1] in MODIFIERS


def is_field(source: str, text: str) -> bool:
    """Whether ``text`` (a field, maybe with ``[arg]`` or inside transformers) names a field of ``source``."""
    inner = text
    while (m := _TRANSFORMER.match(inner)) is not None:
        inner = m.group(1)
    m = _FIELD_ARG.match(inner.strip())
    if m is None:
        return False
    name = m.group(1)
    table = field_registry.fields_for_source(source)
    if name in table:
        return True
    head = name
    while "." in head:
        head = head.rsplit(".", 1)[0]
        spec = table.get(head)
        if spec is not None and spec.dotted_arg:
            return True
    return False


def validate_exception(ex: ExceptionInfo, source: str) -> None:
    """Fill default comps and check operators and fields, as Falco does when a rule is defined."""
    if isinstance(ex.fields, list):
        if ex.comps is None:
            ex.comps = ["="] * len(ex.fields)
        if not isinstance(ex.comps, list) or len(ex.comps) != len(ex.fields):
            raise LoadError(LOAD_ERR_VALIDATE, "Fields and comps lists must have equal length", ex.pos)
        for comp in ex.comps:
            if not is_operator(comp):
                raise LoadError(LOAD_ERR_VALIDATE, f"'{comp}' is not a supported comparison operator", ex.pos)
        for name in ex.fields:
            if not is_field(source, name):
                raise LoadError(LOAD_ERR_VALIDATE, f"'{name}' is not a supported filter field", ex.pos)
    elif ex.fields is not None:
        if ex.comps is None:
            ex.comps = "in"
        if isinstance(ex.comps, list):
            raise LoadError(LOAD_ERR_VALIDATE, "Fields and comps must both be strings", ex.pos)
        if ex.comps not in ("in", "pmatch", "intersects"):
            raise LoadError(
                LOAD_ERR_VALIDATE,
                "When fields is a single value, comps must be one of (in, pmatch, intersects)",
                ex.pos,
            )
        if not is_field(source, ex.fields):
            raise LoadError(LOAD_ERR_VALIDATE, f"'{ex.fields}' is not a supported filter field", ex.pos)


def _is_transformer_expr(text: str) -> bool:
    """A value written as a transformer call with no white space (``toupper(proc.pname)``): Falco inserts it
    unquoted, so it compiles as a transformer on the right of the comparison."""
    m = _RHS_TRANSFORMER.match(text)
    return m is not None and m.group(1) in _RHS_TRANSFORMER_NAMES


def _quote(text: str) -> str:
    """A value as condition text: kept as written when the rules file already quoted it (Falco does the
    same) or when it is a transformer expression, else quoted when it would not read back as one bare token."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text
    if _is_transformer_expr(text):
        return text
    return lexer.quote(text) if text else '""'


def _rhs(value: Any, comp: str) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_quote(v) for v in value) + ")"
    if comp in LIST_OPS or comp.split()[-1] in MODIFIERS:
        text: str = value if value.startswith("(") else "(" + value + ")"
        return text
    return _quote(value)


def exception_condition(ex: ExceptionInfo) -> str:
    """The text Falco ORs together for one exception ('' when it has no values)."""
    if not ex.values:
        return ""
    if not isinstance(ex.fields, list):
        items: list[str] = []
        for value in ex.values:
            if isinstance(value, list):
                raise LoadError(
                    LOAD_ERR_VALIDATE, "Expected values array to contain a list of strings", ex.pos
                )
            items.append(_quote(value))
        return f"({ex.fields} {ex.comps} ({', '.join(items)}))"
    comps = ex.comps if isinstance(ex.comps, list) else ["="] * len(ex.fields)
    alternatives: list[str] = []
    for values in ex.values:
        if not isinstance(values, list) or len(values) != len(ex.fields):
            raise LoadError(LOAD_ERR_VALIDATE, "Fields and values lists must have equal length", ex.pos)
        terms = [f"{f} {c} {_rhs(v, c)}" for f, c, v in zip(ex.fields, comps, values)]
        alternatives.append("(" + " and ".join(terms) + ")")
    return "(" + " or ".join(alternatives) + ")"


def with_exceptions(condition: str, exceptions: list[ExceptionInfo]) -> str:
    """``(condition) and not (...)`` for each exception that has values, as Falco builds it."""
    out = f"({condition})"
    for ex in exceptions:
        text = exception_condition(ex)
        if text:
            out += f" and not {text}"
    return out
