"""Collector semantics: define / append / override / enable, positions and context chains."""

from __future__ import annotations

from helpers import HEADER, codes, load, rule

from engine.priority import Priority


def test_redefinition_keeps_original_position() -> None:
    res = load(
        HEADER + "- rule: second\n  desc: d\n  condition: evt.type = close\n  output: o\n  priority: INFO\n",
        "- rule: base\n  desc: new\n  condition: evt.type = openat\n  output: o2\n  priority: ERROR\n",
    )
    assert [r.name for r in res.ruleset.rules] == ["base", "second"]
    base = rule(res, "base")
    assert (base.desc, base.priority, base.condition_compiled) == ("new", Priority.ERROR, "evt.type = openat")


def test_override_append_and_replace_in_one_item() -> None:
    res = load(
        HEADER + "- rule: base\n  condition: and proc.name = cat\n  priority: critical\n  tags: [t1]\n"
        "  override:\n    condition: append\n    priority: replace\n    tags: append\n"
    )
    base = rule(res, "base")
    assert base.condition == "evt.type = open and proc.name = cat"
    assert base.priority is Priority.CRITICAL and base.tags == ("t1",)
    assert res.warnings == ()


def test_output_and_desc_append_with_a_space() -> None:
    res = load(
        HEADER + "- rule: base\n  output: extra=%proc.pid\n  desc: more\n"
        "  override:\n    output: append\n    desc: append\n"
    )
    base = rule(res, "base")
    assert (base.output, base.desc) == ("o %proc.name extra=%proc.pid", "d more")


def test_priority_cannot_be_appended() -> None:
    res = load(HEADER + "- rule: base\n  priority: INFO\n  override:\n    priority: append\n")
    assert res.errors[0].message == "Key 'priority' cannot be appended to, use 'replace' instead"
    assert res.errors[0].item_type == "override"


def test_invalid_override_operation_and_key() -> None:
    res = load(HEADER + "- rule: base\n  desc: x\n  override:\n    desc: merge\n")
    assert "Invalid override operation for key 'desc'" in res.errors[0].message
    # The operation decides the message, as in Falco: a key outside a set is refused for that operation.
    res = load(HEADER + "- rule: base\n  source: syscall\n  override:\n    source: replace\n")
    assert res.errors[0].message == "Key 'source' cannot be replaced"
    res = load(HEADER + "- rule: base\n  source: syscall\n  override:\n    source: append\n")
    assert res.errors[0].message == "Key 'source' cannot be appended to, use 'replace' instead"
    res = load("- list: l\n  items: [a]\n- list: l\n  items: [b]\n  override:\n    items: merge\n")
    assert res.errors[0].message.endswith("Allowed values are: append, replace")
    res = load(HEADER + "- rule: base\n  priority: INFO\n  override:\n    priority: merge\n")
    assert res.errors[0].message.endswith("Allowed values are: replace")


def test_override_for_key_not_present() -> None:
    res = load(HEADER + "- rule: base\n  override:\n    desc: replace\n")
    assert res.errors[0].message == "An replace override for 'desc' was specified but 'desc' is not defined"


def test_standalone_enabled_toggles_and_warns() -> None:
    res = load(HEADER, "- rule: base\n  enabled: false\n")
    assert res.successful and rule(res, "base").enabled is False
    assert codes(res.warnings) == ["LOAD_DEPRECATED_ITEM"]
    res = load("- rule: nope\n  enabled: false\n")
    assert "no rule by that name already exists" in res.errors[0].message


def test_enabled_replace_override_has_no_warning() -> None:
    res = load(HEADER + "- rule: base\n  enabled: false\n  override:\n    enabled: replace\n")
    assert rule(res, "base").enabled is False and res.warnings == ()


def test_list_and_macro_append_extend() -> None:
    res = load(
        "- list: l\n  items: [a]\n- list: l\n  items: [b]\n  override:\n    items: append\n"
        "- macro: m\n  condition: proc.name in (l)\n- macro: m\n  condition: or proc.pname = x\n"
        "  append: true\n"
        "- rule: r\n  desc: d\n  condition: evt.type = open and m\n  output: o\n  priority: INFO\n"
    )
    assert (
        rule(res, "r").condition_compiled == "(evt.type = open and (proc.name in (a, b) or proc.pname = x))"
    )
    assert codes(res.warnings) == ["LOAD_DEPRECATED_ITEM"]


def test_context_chain_names_the_definition_in_another_file() -> None:
    res = load(HEADER, "- rule: base\n  condition: and proc.name =\n  override:\n    condition: append\n")
    (err,) = res.errors
    assert err.code == "LOAD_ERR_COMPILE_CONDITION" and err.file == "f1.yaml"
    assert [p.file for p in err.context_chain] == ["f0.yaml"]


def test_unknown_key_and_unknown_item_warn() -> None:
    res = load(HEADER.replace("priority: INFO", "priority: INFO\n  color: red") + "- thing: x\n")
    assert res.successful
    assert sorted(codes(res.warnings)) == ["LOAD_UNKNOWN_ITEM", "LOAD_UNKNOWN_KEY"]
    key = next(w for w in res.warnings if w.code == "LOAD_UNKNOWN_KEY")
    assert (key.line, key.column, key.item_name) == (6, 10, "base")


def test_missing_keys_name_the_key_and_item() -> None:
    res = load("- rule: r\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n")
    (err,) = res.errors
    assert (err.item_type, err.item_name, err.message) == (
        "rule",
        "r",
        "Item has no mapping for key 'output'",
    )
    (err,) = load("- macro:\n  condition: x\n").errors
    assert err.message == "Mapping for key 'macro' is empty"


def test_invalid_priority() -> None:
    (err,) = load(HEADER.replace("INFO", "LOUD")).errors
    assert (err.code, err.message, err.line) == ("LOAD_ERR_VALIDATE", "Invalid priority", 5)


def test_priority_words_are_case_insensitive() -> None:
    for word, level in (
        ("informational", Priority.INFORMATIONAL),
        ("Warning", Priority.WARNING),
        ("EMERGENCY", Priority.EMERGENCY),
        ("debug", Priority.DEBUG),
    ):
        assert rule(load(HEADER.replace("INFO", word)), "base").priority is level


def test_unknown_source_is_skipped_with_warning() -> None:
    res = load(
        "- rule: c\n  desc: d\n  condition: ct.name = x\n  output: o\n  priority: INFO\n  source: aws\n"
    )
    assert res.successful and res.ruleset is not None and len(res.ruleset.rules) == 0
    assert res.warnings[0].message == "Unknown source aws, skipping"


def test_empty_source_on_an_update_keeps_the_rule_source() -> None:
    # ``source:`` left empty (null or "") on an append or override names no source: the change applies to
    # the rule as defined; a different, named source is still refused.
    base = "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  source: syscall\n"
    for empty in ("", '""', "''"):
        res = load(base + f"- rule: r\n  condition: and proc.name = x\n  source: {empty}\n  append: true\n")
        assert res.successful, [f.to_dict() for f in res.errors]
        assert rule(res, "r").condition_compiled == "(evt.type = open and proc.name = x)"
        res = load(base + f"- rule: r\n  condition: evt.type = close\n  source: {empty}\n  override:\n    condition: replace\n")
        assert rule(res, "r").condition_compiled == "evt.type = close"
    other = load(base + "- rule: r\n  condition: and ka.verb = get\n  source: k8s_audit\n  append: true\n")
    assert [f.message for f in other.errors] == ["Rule has been re-defined with a different source"]

