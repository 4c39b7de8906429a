"""``check``: unknown fields, arguments, operator/type compatibility, literal values, transformer misuse."""

from __future__ import annotations

import pytest

from engine.condition import check, parse
from engine.fields.base import FieldSpec


@pytest.mark.parametrize(
    "text",
    [
        "proc.name = bash and evt.num > 3 and fd.sip in (10.0.0.0/8, ::1)",
        "evt.num in (1, 0x10) and evt.latency < 2.5e+3",
        "container.privileged = true and fd.name pmatch (/etc)",
        "evt.buffer bcontains CAFEBABE and evt.buffer bstartswith 012ab3cc",
        "proc.args intersects (a) and proc.args = a and len(proc.args) > 2",
        "k8s.pod.label.app = web and evt.arg.flags contains O_ and evt.arg[0] = 3",
        "proc.name = val(proc.pname) and tolower(fd.name) glob '*.sh'",
        "fd.name exists and proc.aname exists and proc.aname[3] = x",
        "ka.resp.code >= 400 and ka.uri.param[pretty] = true",
        "proc.name regex '^(a|b)+$'",
    ],
)
def test_valid_conditions(table: dict[str, FieldSpec], text: str) -> None:
    assert check(parse(text), "syscall", fields=table) == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("proc.nam = x", "filter_check called with nonexistent field proc.nam"),
        ("k8s.pod.labels.app = x", "filter_check called with nonexistent field k8s.pod.labels.app"),
        ("evt.num contains 3", "'contains' operator not supported for numeric filters"),
        ("evt.num glob 3", "'glob' operator not supported for numeric filters"),
        ("proc.name bcontains x", "'bcontains' operator not supported for string filters"),
        ("evt.buffer glob x", "'glob' operator not supported for buffer filters"),
        ("container.privileged > 0", "'>' operator not supported for numeric filters"),
        ("fd.sip startswith 10", "'startswith' operator not supported for ip address and network filters"),
        ("evt.num = abc", "'abc' is not a valid number for a uint64 field"),
        ("evt.num in (1, two)", "'two' is not a valid number"),
        ("container.privileged = yes", "unrecognized boolean value 'yes'"),
        ("fd.sip = 300.1.1.1", "unrecognized IP address '300.1.1.1'"),
        ("fd.snet = 10.0.0.0/33", "unrecognized IP network '10.0.0.0/33'"),
        ("proc.name regex '(a'", "invalid regular expression '(a'"),
        ("evt.buffer bcontains ELF", "'bcontains' takes hexadecimal digits (like CAFEBABE), got 'ELF'"),
        ("evt.buffer bstartswith abc", "'bstartswith' takes hexadecimal digits"),
        ("k8s.pod.label = x", "field 'k8s.pod.label' requires an argument"),
        ("proc.name[1] = x", "field 'proc.name' does not accept an argument"),
        ("proc.aname[x] = a", "needs a numeric index argument"),
        (
            "tolower(evt.num) = 1",
            "can't add field transformer: type 'uint64' is not supported by 'tolower' transformer applied on field 'evt.num'",
        ),
        ("len(evt.num) = 1", "type 'uint64' is not supported by 'len' transformer"),
        (
            "proc.name = val(evt.num)",
            "field 'proc.name' has type 'string' while the right-hand side field 'evt.num' has incompatible type 'uint64'",
        ),
        ("concat(proc.name, proc.args) = x", "'concat' does not accept list fields"),
        ("join(proc.name, proc.args) = x", "join(sep, field)"),
        ("some_macro and proc.name = x", "Undefined macro 'some_macro' used in filter."),
        ("proc.name = oneof (a)", None),  # valid: modifier with a list
    ],
)
def test_errors(table: dict[str, FieldSpec], text: str, error: str | None) -> None:
    errors = check(parse(text), "syscall", fields=table)
    if error is None:
        assert errors == []
    else:
        assert len(errors) == 1 and error in errors[0], errors


def test_every_problem_is_reported(table: dict[str, FieldSpec]) -> None:
    errors = check(parse("a.b = 1 or evt.num = x or not c.d exists"), "syscall", fields=table)
    assert errors == [
        "filter_check called with nonexistent field a.b",
        "'x' is not a valid number for a uint64 field",
        "filter_check called with nonexistent field c.d",
    ]


def test_right_hand_side_field_must_match_list_ness(table: dict[str, FieldSpec]) -> None:
    errors = check(parse("proc.args intersects val(proc.name)"), "syscall", fields=table)
    assert errors == [
        (
            "field 'proc.args' has type 'string (list)' while the right-hand side field 'proc.name' "
            "has incompatible type 'string'"
        )
    ]
    assert check(parse("tolower(proc.pname) = toupper(proc.name)"), "syscall", fields=table) == []
