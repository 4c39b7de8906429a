"""Recursive-descent parser for Falco's condition language; one method per production.

Owns: turning condition text into the AST of ``engine.condition.ast``, with ``ConditionSyntaxError`` (message
and character offset) for bad input. Error wording follows libsinsp's so messages read like Falco's.

Must not: resolve macros or lists, look fields up, or check types (later passes do).

Grammar (EBNF; ``blank`` is one or more of space, tab, backspace, CR, LF; blanks may separate any tokens)::

    condition     = or_expr EOF ;
    or_expr       = and_expr { "or" ( blank and_expr | "(" embedded ) } ;
    and_expr      = not_expr { "and" ( blank not_expr | "(" embedded ) } ;
    not_expr      = { "not" blank } ( "not(" embedded | check ) ;
    embedded      = or_expr ")" ;
    check         = "(" embedded
                  | field_operand condition_tail
                  | identifier ;                              (* a macro reference *)
    field_operand = field | transformer ;
    field         = field_name [ "[" ( quoted | field_arg ) "]" ] ;
    transformer   = ( "tolower" | "toupper" | "b64" | "basename" | "len" ) "(" field_operand ")"
                  | ( "join" | "concat" ) "(" t_arg { "," t_arg } ")" ;
    t_arg         = field_operand | quoted | bare_str ;
    condition_tail = "exists"
                  | num_op ( rhs_transform | number )
                  | str_op ( modifier list | rhs_transform | quoted | bare_str )
                  | list_op ( list | rhs_transform | identifier ) ;
    rhs_transform = "val(" field ")" | transformer ;
    list          = "(" [ list_item { "," list_item } ] ")" ;
    list_item     = quoted | bare_str ;
    num_op        = "<=" | "<" | ">=" | ">" ;
    str_op        = "==" | "=" | "!=" | ( "glob" | "iglob" | "contains" | "icontains" | "bcontains"
                  | "startswith" | "bstartswith" | "endswith" | "regex" ) blank ;
    list_op       = "intersects" | "in" | "pmatch" ;
    modifier      = ( "oneof" | "anyof" | "allof" ) ;            (* only when a "(" follows *)
    identifier    = /[a-zA-Z]+[a-zA-Z0-9_]*/ ;
    field_name    = identifier ( "." identifier )+ ;
    field_arg     = /[^ \\b\\t\\n\\r\\[\\]"']+/ ;
    number        = /0[xX][0-9a-zA-Z]+/ | /[+-]?[0-9]+\\.?[0-9]*([eE][+-][0-9]+)?/ ;
    bare_str      = /[^ \\b\\t\\n\\r(),="']+/ ;
"""

from __future__ import annotations

import re

from engine.condition import lexer
from engine.condition.ast import (
    FIELD_TRANSFORMERS,
    LIST_OPS,
    MODIFIER_OPS,
    MODIFIERS,
    MULTI_TRANSFORMERS,
    NUM_OPS,
    STR_OPS,
    UNARY_OPS,
    VAL,
    And,
    Compare,
    ConditionSyntaxError,
    FieldRef,
    ListValue,
    MacroRef,
    Node,
    Not,
    Operand,
    Or,
    Transform,
    Value,
)

MAX_DEPTH = 100
_WORD_OP = re.compile(r"[a-z]+")


def _quoted_names(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{n}'" for n in names)


class Parser:
    """One parse of one text. Use ``parse(text)``; the class exists so each production is a method."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.last = ""
        self.depth = 0

    # -- errors and lexing helpers -------------------------------------------------------------------------
    def fail(self, message: str, offset: int | None = None) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, self.pos if offset is None else offset)

    def enter(self) -> None:
        self.depth += 1
        if self.depth >= MAX_DEPTH:
            raise self.fail(f"exceeded max depth limit of {MAX_DEPTH}")

    def blank(self) -> bool:
        start = self.pos
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in lexer.BLANKS:
            self.pos += 1
        return self.pos > start

    def literal(self, word: str) -> bool:
        if self.text.startswith(word, self.pos):
            self.pos += len(word)
            self.last = word
            return True
        return False

    def pattern(self, rx: re.Pattern[str]) -> str | None:
        m = rx.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        self.last = m.group()
        return self.last

    def quoted(self) -> str | None:
        if self.pos >= len(self.text) or self.text[self.pos] not in "'\"":
            return None
        end = lexer.scan_quoted(self.text, self.pos)
        if end is None:
            return None  # unterminated: the caller reports what it expected here
        try:
            value = lexer.unescape(self.text[self.pos : end])
        except lexer.EscapeError as exc:
            raise self.fail(str(exc), self.pos + exc.index) from None
        self.pos = end
        self.last = value
        return value

    def at_blank_or(self, chars: str) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos] in lexer.BLANKS + chars

    # -- productions ---------------------------------------------------------------------------------------
    def condition(self) -> Node:
        if not self.text.strip():
            raise self.fail("filter input string is empty", 0)
        node = self.or_expr()
        if self.pos != len(self.text):
            raise self.fail(f"unexpected token after '{self.last}', expecting 'or', 'and'")
        return node

    def or_expr(self) -> Node:
        return self._chain("or", self.and_expr, Or)

    def and_expr(self) -> Node:
        return self._chain("and", self.not_expr, And)

    def _chain(self, word: str, sub, cls) -> Node:  # type: ignore[no-untyped-def]
        self.enter()
        self.blank()
        children = [sub()]
        self.blank()
        while self.literal(word):  # as libsinsp: 'andx' is an error after 'and', not a new token
            if self.blank():
                children.append(sub())
            elif self.literal("("):
                children.append(self.embedded())
            else:
                raise self.fail(f"expected blank or '(' after '{word}'")
            self.blank()
        self.depth -= 1
        node: And | Or | Not | Compare | MacroRef = children[0] if len(children) == 1 else cls(tuple(children))
        return node

    def not_expr(self) -> Node:
        self.enter()
        negate = False
        self.blank()
        while self.pattern(lexer.NOT_BLANK):
            negate = not negate
        if self.literal("not("):
            negate = not negate
            child = self.embedded()
        else:
            child = self.check()
        self.depth -= 1
        return Not(child) if negate else child

    def embedded(self) -> Node:
        self.enter()
        self.blank()
        child = self.or_expr()
        self.blank()
        if not self.literal(")"):
            raise self.fail("expected a ')' token")
        self.depth -= 1
        return child

    def check(self) -> Node:
        self.enter()
        self.blank()
        if self.literal("("):
            node = self.embedded()
        elif (left := self.field_operand()) is not None:
            node = self.condition_tail(left)
        elif self.pattern(lexer.IDENTIFIER):
            node = MacroRef(self.last)
        else:
            raise self.fail("expected a '(' token, a field check, or an identifier")
        self.depth -= 1
        return node

    def field_operand(self) -> FieldRef | Transform | None:
        start = self.pos
        transform = self.transformer()
        if transform is not None:
            return transform
        self.pos = start
        return self.field()

    def field(self) -> FieldRef | None:
        name = self.pattern(lexer.FIELD_NAME)
        if name is None:
            return None
        arg = None
        if self.literal("["):
            arg = self.quoted()
            if arg is None:
                arg = self.pattern(lexer.FIELD_ARG_BARE)
            if arg is None:
                raise self.fail("expected a valid field argument: a quoted string or a bare string")
            if not self.literal("]"):
                raise self.fail("expected a ']' token")
        return FieldRef(name, arg)

    def transformer(self) -> Transform | None:
        """A transformer call at the cursor, or None (cursor unchanged) when the text is not one."""
        m = lexer.IDENTIFIER.match(self.text, self.pos)
        if m is None or not self.text.startswith("(", m.end()):
            return None
        name = m.group()
        if name not in FIELD_TRANSFORMERS and name not in MULTI_TRANSFORMERS:
            return None
        self.enter()
        self.pos = m.end() + 1
        self.last = name + "("
        self.blank()
        if name in FIELD_TRANSFORMERS:
            inner = self.field_operand()
            if inner is None:
                names = _quoted_names((VAL, *FIELD_TRANSFORMERS, *MULTI_TRANSFORMERS))
                raise self.fail(f"expected a field or a nested valid transformer: {names}")
            args: tuple[Operand, ...] = (inner,)
        else:
            args = self.transformer_args(name)
        self.blank()
        if not self.literal(")"):
            raise self.fail("expected a ')' token closing the transformer")
        self.depth -= 1
        return Transform(name, args)

    def transformer_args(self, name: str) -> tuple[Operand, ...]:
        args: list[Operand] = []
        while True:
            self.blank()
            operand: Operand | None = self.field_operand()
            if operand is None:
                text: str | None = self.quoted()
                if text is None:
                    text = self.pattern(lexer.BARE_STR)
                if text is None:
                    raise self.fail(f"expected a field, a transformer or a string as argument of '{name}'")
                operand = Value(text)
            args.append(operand)
            self.blank()
            if not self.literal(","):
                return tuple(args)

    def condition_tail(self, left: FieldRef | Transform) -> Compare:
        self.blank()
        for unary in UNARY_OPS:
            if self.literal(unary):
                return Compare(left, unary)
        op = self.operator()
        if op is None:
            raise self.fail(f"expected a valid check operator: one of {_quoted_names(ALL_OP_NAMES)}")
        if op in LIST_OPS:
            return Compare(left, op, self.list_rhs())
        modifier = self.modifier() if op in MODIFIER_OPS else None
        if modifier is not None:
            return Compare(left, op, self.list_value(), modifier)
        if op in NUM_OPS:
            return Compare(left, op, self.num_rhs())
        return Compare(left, op, self.str_rhs())

    def operator(self) -> str | None:
        for op in NUM_OPS + ("==", "=", "!="):
            if self.literal(op):
                return op
        m = _WORD_OP.match(self.text, self.pos)
        if m is None:
            return None
        word = m.group()
        after = m.end()
        if word in STR_OPS and (after < len(self.text) and self.text[after] in lexer.BLANKS):
            self.pos, self.last = after, word
            return word
        if word in LIST_OPS and (after >= len(self.text) or self.text[after] in lexer.BLANKS + "("):
            self.pos, self.last = after, word
            return word
        return None

    def modifier(self) -> str | None:
        """A modifier word followed by a list; a bare ``oneof`` with no list after it is a plain value."""
        start = self.pos
        self.blank()
        for word in MODIFIERS:
            if self.text.startswith(word, self.pos):
                after = self.pos + len(word)
                self.pos = after
                self.blank()
                if self.text.startswith("(", self.pos):
                    self.last = word
                    return word
                self.pos = start
                self.blank()
        self.pos = start
        return None

    def num_rhs(self) -> Value | Transform:
        self.blank()
        transform = self.rhs_transform()
        if transform is not None:
            return transform
        if self.pattern(lexer.HEX_NUMBER) or self.pattern(lexer.NUMBER):
            return Value(self.last)
        names = _quoted_names((VAL, *FIELD_TRANSFORMERS, *MULTI_TRANSFORMERS))
        raise self.fail(f"expected a number value or a field with a valid transformer: {names}")

    def str_rhs(self) -> Value | Transform:
        self.blank()
        transform = self.rhs_transform()
        if transform is not None:
            return transform
        value = self.string()
        if value is None:
            names = _quoted_names((VAL, *FIELD_TRANSFORMERS, *MULTI_TRANSFORMERS))
            raise self.fail(f"expected a string value or a field with a valid transformer: {names}")
        return value

    def string(self) -> Value | None:
        text = self.quoted()
        if text is None:
            text = self.pattern(lexer.BARE_STR)
        return None if text is None else Value(text)

    def list_rhs(self) -> ListValue | Value | Transform:
        self.blank()
        if self.text.startswith("(", self.pos):
            return self.list_value()
        transform = self.rhs_transform()
        if transform is not None:
            return transform
        if self.pattern(lexer.IDENTIFIER):
            return Value(self.last)
        names = _quoted_names((VAL, *FIELD_TRANSFORMERS, *MULTI_TRANSFORMERS))
        raise self.fail(f"expected a list, an identifier, or a field with a valid transformer: {names}")

    def list_value(self) -> ListValue:
        self.blank()
        if not self.literal("("):
            raise self.fail("expected a '(' token opening a list")
        self.blank()
        items: list[Value] = []
        first = self.string()
        if first is not None:
            items.append(first)
            self.blank()
            while self.literal(","):
                self.blank()
                item = self.string()
                if item is None:
                    raise self.fail("expected a string value")
                items.append(item)
                self.blank()
        if not self.literal(")"):
            raise self.fail("expected a ')' token")
        return ListValue(tuple(items))

    def rhs_transform(self) -> Transform | None:
        if self.literal(VAL + "("):
            self.blank()
            field = self.field()
            if field is None:
                raise self.fail(f"expected a field within '{VAL}' transformer")
            self.blank()
            if not self.literal(")"):
                raise self.fail("expected a ')' token closing the transformer")
            return Transform(VAL, (field,))
        return self.transformer()


ALL_OP_NAMES = UNARY_OPS + NUM_OPS + STR_OPS + LIST_OPS


def parse(text: str) -> Node:
    """Parse a condition into its AST; raises ``ConditionSyntaxError`` with a message and an offset."""
    return Parser(text).condition()
