"""The condition AST: frozen dataclasses produced by the parser and read by every pass.

Owns: the node classes and ``ConditionSyntaxError``. Nodes are immutable and compare by value, so
``parse(to_string(node)) == node`` is a meaningful round-trip check.

Must not: parse, print, type-check or evaluate anything (those are the sibling modules' jobs).

Node shapes:
    And(children), Or(children)          -- two or more children, in source order
    Not(child)
    Compare(left, op, right, modifier)   -- ``left`` is a FieldRef or Transform; ``right`` is a Value, a
                                            ListValue, a Transform (``val(f)``, ``tolower(f)``...) or None for
                                            ``exists``; ``modifier`` is ``oneof``/``anyof``/``allof`` or None
    MacroRef(name)                       -- a bare identifier: a macro (or, after lists, a leftover name)
    FieldRef(name, arg)                  -- ``proc.aname[2]`` is FieldRef("proc.aname", "2")
    Transform(name, args)                -- ``tolower(proc.name)``, ``val(proc.pname)``, ``concat(a, b)``
    Value(text), ListValue(items)        -- literal text as written (unescaped), types come later
"""

from __future__ import annotations

from dataclasses import dataclass


class ConditionSyntaxError(ValueError):
    """A condition that does not parse. ``offset`` is the 0-based character index where parsing stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at offset {offset})")
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class FieldRef:
    name: str
    arg: str | None = None


@dataclass(frozen=True, slots=True)
class Value:
    text: str


@dataclass(frozen=True, slots=True)
class ListValue:
    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Transform:
    name: str
    args: tuple[Operand, ...]


Operand = FieldRef | Transform | Value


@dataclass(frozen=True, slots=True)
class Compare:
    left: FieldRef | Transform
    op: str
    right: Value | ListValue | Transform | None = None
    modifier: str | None = None


@dataclass(frozen=True, slots=True)
class MacroRef:
    name: str


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = And | Or | Not | Compare | MacroRef

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
# Word operators must be followed by a blank; symbols need not be.
STR_OPS = (
    "==",
    "=",
    "!=",
    "glob",
    "iglob",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "regex",
)
LIST_OPS = ("intersects", "in", "pmatch")
MODIFIERS = ("oneof", "anyof", "allof")
# Base operators a modifier may follow (libsinsp: the string comparisons only; not ordering or list operators).
MODIFIER_OPS = (
    "=",
    "==",
    "!=",
    "contains",
    "icontains",
    "bcontains",
    "startswith",
    "bstartswith",
    "endswith",
    "glob",
    "iglob",
    "regex",
)
ALL_OPS = UNARY_OPS + NUM_OPS + STR_OPS + LIST_OPS
# Transformers applied to a field (left side, or right side of a comparison).
FIELD_TRANSFORMERS = ("tolower", "toupper", "b64", "basename", "len")
# Transformers that take several arguments.
MULTI_TRANSFORMERS = ("join", "concat")
VAL = "val"
