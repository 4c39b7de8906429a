"""Exceptions: every accepted form, the condition text they produce, and their validation errors."""

from __future__ import annotations

from helpers import HEADER, load, rule

from engine.events.syscall import ProcessInfo, SyscallEvent


def _with(block: str) -> str:
    return HEADER + "  exceptions:\n" + block


def test_fields_list_with_tuples() -> None:
    res = load(
        _with(
            "    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=, startswith]\n"
            "      values:\n        - [cat, /etc/]\n        - [dog, '/a b/']\n"
        )
    )
    assert rule(res, "base").condition_compiled == (
        "(evt.type = open and not ((proc.name = cat and fd.name startswith /etc/) or "
        '(proc.name = dog and fd.name startswith "/a b/")))'
    )


def test_default_comps_are_equals_for_lists_and_in_for_single_field() -> None:
    res = load(
        _with(
            "    - name: e\n      fields: [proc.name]\n      values: [[cat]]\n"
            "    - name: f\n      fields: proc.pname\n      values: [sh, bash]\n"
        )
    )
    assert rule(res, "base").condition_compiled == (
        "(evt.type = open and not proc.name = cat and not proc.pname in (sh, bash))"
    )


def test_list_operator_value_is_parenthesised() -> None:
    res = load(
        _with(
            "    - name: e\n      fields: [proc.name, proc.pname]\n      comps: [in, =]\n"
            "      values: [[[a, b], x]]\n"
        )
    )
    assert "proc.name in (a, b) and proc.pname = x" in rule(res, "base").condition_compiled


def test_exception_without_values_adds_nothing() -> None:
    res = load(_with("    - name: e\n      fields: [proc.name]\n"))
    assert rule(res, "base").condition_compiled == "evt.type = open"


def test_appended_values_extend_the_exception() -> None:
    res = load(
        _with("    - name: e\n      fields: proc.name\n      values: [a]\n")
        + "- rule: base\n  exceptions:\n    - name: e\n      values: [b]\n"
        "  override:\n    exceptions: append\n"
    )
    assert rule(res, "base").condition_compiled == "(evt.type = open and not proc.name in (a, b))"


def test_appending_fields_to_existing_exception_fails() -> None:
    res = load(
        _with("    - name: e\n      fields: proc.name\n      values: [a]\n")
        + "- rule: base\n  exceptions:\n    - name: e\n      fields: proc.pname\n      values: [b]\n"
        "  override:\n    exceptions: append\n"
    )
    assert res.errors[0].message == "Can not append exception fields to existing exception, only values"


def test_validation_errors_name_the_exception() -> None:
    cases = {
        "    - name: e\n      fields: [proc.name]\n      comps: [=, =]\n      values: [[a]]\n": "Fields and comps lists must have equal length",
        "    - name: e\n      fields: [proc.name]\n      comps: [like]\n      values: [[a]]\n": "'like' is not a supported comparison operator",
        "    - name: e\n      fields: [proc.nothing]\n      values: [[a]]\n": "'proc.nothing' is not a supported filter field",
        "    - name: e\n      fields: proc.name\n      comps: =\n      values: [a]\n": "When fields is a single value, comps must be one of (in, pmatch, intersects)",
        "    - name: e\n      fields: [proc.name, proc.pname]\n      values: [[a]]\n": "Fields and values lists must have equal length",
    }
    for block, message in cases.items():
        res = load(_with(block))
        assert not res.successful, block
        (err,) = res.errors
        assert (err.code, err.item_type, err.item_name, err.message) == (
            "LOAD_ERR_VALIDATE",
            "exception",
            "e",
            message,
        )


def test_exception_without_name_or_fields() -> None:
    (err,) = load(_with("    - fields: [proc.name]\n")).errors
    assert (err.item_type, err.message) == ("exception", "Item has no mapping for key 'name'")
    (err,) = load(_with("    - name: e\n      values: [[a]]\n")).errors
    assert err.message == "Item has no mapping for key 'fields'"


def test_transformer_fields_are_accepted() -> None:
    res = load(_with("    - name: e\n      fields: [tolower(proc.name)]\n      values: [[cat]]\n"))
    assert res.successful and res.warnings == ()


def test_values_already_quoted_in_the_file_are_kept_and_others_quoted() -> None:
    res = load(
        _with(
            "    - name: e\n      fields: [proc.cmdline, proc.name]\n      comps: [=, =]\n"
            "      values: [['\"a b\"', 'x,y']]\n"
        )
    )
    assert (
        rule(res, "base").condition_compiled
        == '(evt.type = open and not (proc.cmdline = "a b" and proc.name = "x,y"))'
    )


def test_transformer_value_compares_with_the_transformed_field() -> None:
    res = load(_with("    - name: e\n      fields: [proc.name]\n      comps: [=]\n      values: [[tolower(proc.pname)]]\n"))
    compiled = rule(res, "base")
    assert compiled.condition_compiled == "(evt.type = open and not proc.name = tolower(proc.pname))"
    assert not [w for w in res.warnings if "misused" in w.message]
    # the exception holds when the process name equals its parent's name lowered, and only then
    assert res.ruleset is not None
    for pname, fires in (("SH", False), ("bash", True), ("tolower(proc.pname)", True)):
        parent = ProcessInfo(pid=1, name=pname)
        event = SyscallEvent(type="open", proc=ProcessInfo(pid=2, name="sh", parent=parent))
        assert bool(res.ruleset.evaluate(event)) is fires, pname


def test_value_that_reads_as_a_field_warns_once_per_value() -> None:
    text = (
        "- rule: r\n  desc: d\n  condition: evt.type = open and (proc.name = proc.pname or proc.name in (proc.pname, x))\n"
        "  output: o\n  priority: INFO\n"
    )
    res = load(text)
    msgs = [w.message for w in res.warnings if "misused" in w.message]
    assert msgs == ["'proc.pname' may be a valid field misused as a const string value"]
    assert [w.code for w in res.warnings if "misused" in w.message] == ["LOAD_COMPILE_CONDITION"]


def test_val_transformer_and_ordinary_strings_do_not_warn() -> None:
    text = (
        "- rule: r\n  desc: d\n  condition: evt.type = open and proc.name = val(proc.pname) and fd.name = /etc/x.y\n"
        "  output: o\n  priority: INFO\n"
    )
    res = load(text)
    assert not [w for w in res.warnings if "misused" in w.message]


def test_spaced_transformer_value_stays_a_string_and_warns() -> None:
    res = load(_with("    - name: e\n      fields: [proc.name]\n      comps: [=]\n      values: [['tolower( proc.pname)']]\n"))
    assert rule(res, "base").condition_compiled == (
        '(evt.type = open and not proc.name = "tolower( proc.pname)")'
    )
    assert [w.message for w in res.warnings if "misused" in w.message] == [
        "'tolower( proc.pname)' may be a valid field transformer misused as a const string value"
    ]


def test_modifiers_only_follow_string_comparisons() -> None:
    # oneof/anyof/allof qualify the string comparisons; an ordering, list or unary operator with one, or a
    # modifier on its own, is not an operator at all.
    for comp in (">= oneof", "< anyof", "in oneof", "pmatch allof", "exists oneof", "anyof"):
        res = load(_with(f"    - name: e\n      fields: [proc.pid]\n      comps: ['{comp}']\n      values: [[[1, 2]]]\n"))
        assert not res.successful, comp
        assert [(f.item_type, f.item_name, f.message) for f in res.errors] == [
            ("exception", "e", f"'{comp}' is not a supported comparison operator")
        ]
    ok = load(_with("    - name: e\n      fields: [proc.name]\n      comps: ['!= allof']\n      values: [[[a, b]]]\n"))
    assert rule(ok, "base").condition_compiled == "(evt.type = open and not proc.name != allof (a, b))"
