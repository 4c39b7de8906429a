"""Compiler: lists, macro visibility, unused items, field/output errors, skip-if-unknown-filter, versions."""

from __future__ import annotations

from helpers import HEADER, codes, load, rule

RULE_M = "- rule: r\n  desc: d\n  condition: evt.type = open and {cond}\n  output: o\n  priority: INFO\n"


def test_lists_can_name_earlier_lists_and_are_marked_used() -> None:
    res = load(
        "- list: a\n  items: [x, y]\n- list: b\n  items: [a, z]\n" + RULE_M.format(cond="proc.name in (b)")
    )
    assert rule(res, "r").condition_compiled == "(evt.type = open and proc.name in (x, y, z))"
    assert res.warnings == ()


def test_unused_macro_and_list_warn() -> None:
    res = load("- list: lonely\n  items: [x]\n- macro: idle\n  condition: proc.name = x\n" + HEADER)
    assert sorted(codes(res.warnings)) == ["LOAD_UNUSED_LIST", "LOAD_UNUSED_MACRO"]
    macro = next(w for w in res.warnings if w.code == "LOAD_UNUSED_MACRO")
    assert (macro.item_type, macro.item_name, macro.line) == ("macro", "idle", 3)


def test_macro_cannot_use_a_later_macro_but_a_rule_can() -> None:
    res = load(
        "- macro: first\n  condition: second\n- macro: second\n  condition: proc.name = x\n"
        + RULE_M.format(cond="first")
    )
    (err,) = res.errors
    assert (err.code, err.item_type, err.item_name, err.message) == (
        "LOAD_ERR_VALIDATE",
        "macro",
        "first",
        "Undefined macro 'second' used in filter.",
    )
    res = load(RULE_M.format(cond="later") + "- macro: later\n  condition: proc.name = x\n")
    assert rule(res, "r").condition_compiled == "(evt.type = open and proc.name = x)"


def test_undefined_macro_in_rule() -> None:
    (err,) = load(RULE_M.format(cond="nowhere")).errors
    assert (err.code, err.item_type, err.message) == (
        "LOAD_ERR_VALIDATE",
        "rule",
        "Undefined macro 'nowhere' used in filter.",
    )


def test_syntax_error_and_unknown_field() -> None:
    (err,) = load(RULE_M.format(cond="proc.name =")).errors
    assert (err.code, err.item_name) == ("LOAD_ERR_COMPILE_CONDITION", "r")
    (err,) = load(RULE_M.format(cond="proc.nobody = x")).errors
    assert err.message == "filter_check called with nonexistent field proc.nobody"
    assert (err.line, err.column) == (3, 14)  # the condition value


def test_disabled_rules_are_still_compiled() -> None:
    res = load(RULE_M.format(cond="proc.nobody = x") + "  enabled: false\n")
    assert not res.successful


def test_output_errors_and_skip_if_unknown_filter() -> None:
    (err,) = load(HEADER.replace("o %proc.name", "o %proc.nobody")).errors
    assert (err.code, err.message) == ("LOAD_ERR_COMPILE_OUTPUT", "invalid formatting token proc.nobody")
    res = load(
        HEADER.replace("o %proc.name", "o %proc.nobody")
        + "  skip-if-unknown-filter: true\n"
        + RULE_M.format(cond="proc.nobody = x")
        + "  skip-if-unknown-filter: true\n"
    )
    assert res.successful and codes(res.warnings) == ["LOAD_UNKNOWN_FILTER", "LOAD_UNKNOWN_FILTER"]
    assert len(res.ruleset.rules) == 0


def test_no_evttype_warning_unless_turned_off() -> None:
    text = "- rule: wide\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n"
    res = load(text)
    assert codes(res.warnings) == ["LOAD_NO_EVTTYPE"]
    assert (
        res.warnings[0].message
        == "Rule matches too many evt.type values. This has a significant performance penalty."
    )
    assert load(text + "  warn_evttypes: false\n").warnings == ()
    assert load(HEADER).warnings == ()


def test_evt_dir_is_deprecated() -> None:
    res = load(RULE_M.format(cond="evt.dir = <"))
    assert res.successful and any("evt.dir" in w.message for w in res.warnings)


def test_engine_version_integer_maps_to_minor_and_semver_compares() -> None:
    assert load("- required_engine_version: 57\n").successful
    (err,) = load("- required_engine_version: 58\n").errors
    assert (err.code, err.item_type) == ("LOAD_ERR_VALIDATE", "required_engine_version")
    assert "0.58.0" in err.message
    assert load("- required_engine_version: 0.57.0\n").successful
    assert not load("- required_engine_version: 1.0.0\n").successful
    assert "Unable to parse engine version" in load("- required_engine_version: seven\n").errors[0].message


def test_unparsable_engine_version_is_a_malformed_item_not_a_version_mismatch() -> None:
    # Falco reports a value it cannot read as a version as a YAML validation problem; only a well-formed
    # version newer than the engine is LOAD_ERR_VALIDATE.
    (err,) = load("- required_engine_version: two-point-oh\n").errors
    assert (err.code, err.item_type) == ("LOAD_ERR_YAML_VALIDATE", "required_engine_version")
    assert "'two-point-oh'" in err.message
    (err,) = load("- required_engine_version: 99.0.0\n").errors
    assert err.code == "LOAD_ERR_VALIDATE"


def test_deprecated_field_in_output_warns_once_and_rule_still_loads() -> None:
    text = "- rule: dir_out\n  desc: d\n  condition: evt.type = close\n  output: o %proc.name %evt.dir\n  priority: INFO\n"
    res = load(text)
    found = [w for w in res.warnings if "rule output" in w.message]
    assert [(w.code, w.item_name) for w in found] == [("LOAD_DEPRECATED_ITEM", "dir_out")]
    assert "'evt.dir'" in found[0].message
    assert rule(res, "dir_out").name == "dir_out"
    plain = load(text.replace(" %evt.dir", " %evt.type"))
    assert not [w for w in plain.warnings if "evt.dir" in w.message]


def test_never_true_placeholder_is_not_an_unrestricted_rule() -> None:
    # evt.num = 0 can never hold: a rule made of it (or of a macro standing for it) does not match every
    # event type, so it gets no LOAD_NO_EVTTYPE; negated it restricts nothing, like any other check.
    macro = "- macro: placeholder\n  condition: (evt.num=0)\n"
    only = macro + "- rule: ph\n  desc: d\n  condition: placeholder\n  output: o\n  priority: INFO\n"
    res = load(only)
    assert res.successful and "LOAD_NO_EVTTYPE" not in codes(res.warnings)
    assert rule(res, "ph").evttypes == frozenset()
    negated = macro + "- rule: nph\n  desc: d\n  condition: not placeholder\n  output: o\n  priority: INFO\n"
    assert "LOAD_NO_EVTTYPE" in codes(load(negated).warnings)
    other = "- rule: n1\n  desc: d\n  condition: evt.num = 1\n  output: o\n  priority: INFO\n"
    assert "LOAD_NO_EVTTYPE" in codes(load(other).warnings)


def test_plugin_requirements_with_alternatives() -> None:
    ok = "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n"
    assert load(ok).successful
    too_new = "- required_plugin_versions:\n  - name: k8saudit\n    version: 99.0.0\n"
    (err,) = load(too_new).errors
    assert (err.code, err.item_type, err.item_name) == (
        "LOAD_ERR_VALIDATE",
        "required_plugin_versions",
        "k8saudit",
    )
    alt = (
        "- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.1.0\n"
        "    alternatives:\n      - name: k8saudit\n        version: 0.1.0\n"
    )
    assert load(alt).successful
    assert not load("- required_plugin_versions:\n  - name: cloudtrail\n    version: 0.1.0\n").successful


def test_read_errors_stop_before_compiling() -> None:
    res = load("- rule: r\n  desc: d\n", RULE_M.format(cond="undefined_macro"))
    assert codes(res.errors) == ["LOAD_ERR_YAML_VALIDATE"]


def test_missing_file_is_a_file_read_error(tmp_path) -> None:
    from engine.rules import load_rules

    res = load_rules([tmp_path / "absent.yaml"])
    assert codes(res.errors) == ["LOAD_ERR_FILE_READ"] and res.ruleset is None


def test_output_is_checked_before_condition() -> None:
    text = RULE_M.format(cond="proc.nobody = x").replace("output: o", "output: o %proc.nobody")
    (err,) = load(text).errors
    assert err.code == "LOAD_ERR_COMPILE_OUTPUT"


def test_every_failing_rule_is_reported() -> None:
    res = load(RULE_M.format(cond="proc.nobody = x") + RULE_M.replace("rule: r", "rule: s").format(cond="m2"))
    assert [(f.item_name, f.code) for f in res.errors] == [
        ("r", "LOAD_ERR_COMPILE_CONDITION"),
        ("s", "LOAD_ERR_VALIDATE"),
    ]


def test_unsafe_na_comparison_on_audit_fields() -> None:
    rule_text = (
        "- rule: a\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n  source: k8s_audit\n"
    )
    for cond in ("ka.user.name = <NA>", "ka.verb in (get, <NA>)", "not jevt.value[/x] != <NA>"):
        assert codes(load(rule_text.format(cond=cond)).warnings) == ["LOAD_UNSAFE_NA_CHECK"], cond
    assert load(rule_text.format(cond="ka.user.name exists")).warnings == ()
    assert load(rule_text.format(cond="ka.user.name contains <NA>")).warnings == ()


def test_plugin_requirement_shape_errors_name_what_is_wrong() -> None:
    cases = {
        "- required_plugin_versions: k8saudit\n": "Value of required_plugin_versions must be a sequence",
        "- required_plugin_versions:\n  - k8saudit\n": "Plugin version must be a mapping",
        "- required_plugin_versions:\n  - name: k8saudit\n": "Item has no mapping for key 'version'",
        "- required_plugin_versions:\n  - name: k8saudit\n    version:\n": "Mapping for key 'version' is empty",
        "- required_plugin_versions:\n  - name: k8saudit\n    version: ''\n": "Value must be non-empty",
        "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n    alternatives: x\n":
            "Value of plugin version alternatives must be a sequence",
        "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n    alternatives: [x]\n":
            "Plugin version alternative must be a mapping",
    }
    for text, message in cases.items():
        (err,) = load(text).errors
        assert (err.code, err.message) == ("LOAD_ERR_YAML_VALIDATE", message), text

