"""Parser: node shapes, precedence, field arguments, quoting/escapes, and syntax errors with offsets."""

from __future__ import annotations

import pytest

from engine.condition import ConditionSyntaxError, parse
from engine.condition.ast import And, Compare, FieldRef, ListValue, MacroRef, Not, Or, Transform, Value


def test_precedence_and_binds_tighter_than_or() -> None:
    node = parse("a or b and c")
    assert node == Or((MacroRef("a"), And((MacroRef("b"), MacroRef("c")))))


def test_chains_are_flat_and_single_children_unwrapped() -> None:
    assert parse("a and b and c") == And((MacroRef("a"), MacroRef("b"), MacroRef("c")))
    assert parse("((a))") == MacroRef("a")


def test_not_forms() -> None:
    assert parse("not a") == Not(MacroRef("a"))
    assert parse("not not a") == MacroRef("a")
    assert parse("not(a or b)") == Not(Or((MacroRef("a"), MacroRef("b"))))
    assert parse("nothing") == MacroRef("nothing")


def test_and_or_followed_by_parenthesis_without_blank() -> None:
    assert parse("a and(b)") == And((MacroRef("a"), MacroRef("b")))
    assert parse("a or(b)") == Or((MacroRef("a"), MacroRef("b")))


def test_field_checks() -> None:
    assert parse("proc.name=bash") == Compare(FieldRef("proc.name"), "=", Value("bash"))
    assert parse("evt.num >= 0x10") == Compare(FieldRef("evt.num"), ">=", Value("0x10"))
    assert parse("fd.name exists") == Compare(FieldRef("fd.name"), "exists")
    assert parse("proc.name in (a, 'b c', \"d\")") == Compare(
        FieldRef("proc.name"), "in", ListValue((Value("a"), Value("b c"), Value("d")))
    )
    assert parse("proc.name in ()") == Compare(FieldRef("proc.name"), "in", ListValue(()))


@pytest.mark.parametrize("op", ["=", "==", "!=", "<", "<=", ">", ">="])
def test_symbol_operators_need_no_blanks(op: str) -> None:
    value = "3" if op in ("<", "<=", ">", ">=") else "x"
    assert parse(f"evt.num{op}{value}") == Compare(FieldRef("evt.num"), op, Value(value))


@pytest.mark.parametrize(
    "op",
    ["contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex"],
)
def test_word_operators(op: str) -> None:
    assert parse(f"proc.name {op} x") == Compare(FieldRef("proc.name"), op, Value("x"))


@pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
def test_list_operators(op: str) -> None:
    assert parse(f"fd.name {op} (/a, /b)") == Compare(
        FieldRef("fd.name"), op, ListValue((Value("/a"), Value("/b")))
    )


def test_list_operator_with_identifier() -> None:
    assert parse("proc.name in shells") == Compare(FieldRef("proc.name"), "in", Value("shells"))


@pytest.mark.parametrize("mod", ["oneof", "anyof", "allof"])
def test_modifiers(mod: str) -> None:
    node = parse(f"proc.name startswith {mod} (a, b)")
    assert node == Compare(FieldRef("proc.name"), "startswith", ListValue((Value("a"), Value("b"))), mod)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("proc.aname[2] = x", FieldRef("proc.aname", "2")),
        ("ka.uri.param[pretty] = x", FieldRef("ka.uri.param", "pretty")),
        ("jevt.value[/user/username] = x", FieldRef("jevt.value", "/user/username")),
        ("ka.req.pod.volumes.hostpath[/proc*] = x", FieldRef("ka.req.pod.volumes.hostpath", "/proc*")),
        ("evt.arg.flags = x", FieldRef("evt.arg.flags")),
        ("k8s.pod.label.app = x", FieldRef("k8s.pod.label.app")),
        ("evt.arg['a b'] = x", FieldRef("evt.arg", "a b")),
    ],
)
def test_field_arguments(text: str, field: FieldRef) -> None:
    node = parse(text)
    assert isinstance(node, Compare) and node.left == field


def test_transformers() -> None:
    assert parse("tolower(proc.name) = bash") == Compare(
        Transform("tolower", (FieldRef("proc.name"),)), "=", Value("bash")
    )
    assert parse("toupper(basename(fd.name)) = X").left == Transform(
        "toupper", (Transform("basename", (FieldRef("fd.name"),)),)
    )
    assert parse("len(proc.args) > 2").left == Transform("len", (FieldRef("proc.args"),))
    assert parse("proc.name = val(proc.pname)").right == Transform("val", (FieldRef("proc.pname"),))
    assert parse("proc.name = b64(proc.cmdline)").right == Transform("b64", (FieldRef("proc.cmdline"),))
    assert parse("concat(proc.name, ':', proc.pname) = a:b").left == Transform(
        "concat", (FieldRef("proc.name"), Value(":"), FieldRef("proc.pname"))
    )
    assert parse("join(',', proc.args) = 'a,b'") == Compare(
        Transform("join", (Value(","), FieldRef("proc.args"))), "=", Value("a,b")
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (r"proc.name = 'it\'s'", "it's"),
        (r'proc.name = "say \"hi\""', 'say "hi"'),
        (r'proc.name = "a\tb\nc"', "a\tb\nc"),
        (r'proc.name = "back\\slash"', "back\\slash"),
        (r'proc.name = "sl\/ash"', "sl/ash"),
        (r'proc.name = "ends with\\"', "ends with\\"),
        ('proc.name = "it\'s"', "it's"),
        ("proc.name = 'a \"b\"'", 'a "b"'),
        ("proc.name = /usr/bin/x!y", "/usr/bin/x!y"),
        ("proc.name = ''", ""),
    ],
)
def test_quoting_and_escapes(text: str, value: str) -> None:
    node = parse(text)
    assert isinstance(node, Compare) and node.right == Value(value)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("evt.type = execve proc.name = x", "unexpected token after 'execve', expecting 'or', 'and'", 18),
        ("proc.name = 'abc' xyz", "unexpected token after 'abc', expecting 'or', 'and'", 18),
        ("", "filter input string is empty", 0),
        ("(a and b", "expected a ')' token", 8),
        ("proc.name", "expected a valid check operator", 9),
        ("proc.name = ", "expected a string value", 12),
        ("evt.num > abc", "expected a number value", 10),
        ("proc.name in (a, )", "expected a string value", 17),
        ("proc.name in (a b)", "expected a ')' token", 16),
        ("proc.aname[2 = x", "expected a ']' token", 12),
        ("proc.aname[] = x", "expected a valid field argument", 11),
        ("tolower(1) = x", "expected a field or a nested valid transformer", 8),
        ("proc.name = val(x)", "expected a field within 'val' transformer", 16),
        ('proc.name = "abc', "expected a string value", 12),
        (r"proc.name = 'a\qb'", "unsupported string escape sequence: \\q", 14),
        (r"""proc.name = 'a\"b'""", 'invalid \\" escape', 14),
        ("= x", "expected a '(' token, a field check, or an identifier", 0),
        (r"proc.name = 'a\x4'", "invalid \\x escape: expected exactly two hexadecimal digits", 14),
        ("a andb", "expected blank or '(' after 'and'", 5),
        ("a or", "expected blank or '(' after 'or'", 4),
    ],
)
def test_syntax_errors(text: str, message: str, offset: int) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse(text)
    assert message in info.value.message
    assert info.value.offset == offset


def test_depth_limit_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConditionSyntaxError, match="max depth"):
        parse("(" * 200 + "a" + ")" * 200)


@pytest.mark.parametrize(
    "text", ["evt.num >= oneof (1, 2)", "proc.name in oneof (a)", "proc.name pmatch allof (/a)"]
)
def test_modifiers_only_follow_string_comparisons(text: str) -> None:
    with pytest.raises(ConditionSyntaxError):
        parse(text)


def test_modifier_word_without_a_list_is_a_value() -> None:
    assert parse("proc.name = oneof") == Compare(FieldRef("proc.name"), "=", Value("oneof"))
    assert parse("proc.name = allofx") == Compare(FieldRef("proc.name"), "=", Value("allofx"))
    assert parse("proc.name contains oneof(a)").modifier == "oneof"  # type: ignore[union-attr]
