"""Reader: YAML problems, positions of items and keys, YAML quirks Falco's reader does not have."""

from __future__ import annotations

from pathlib import Path

from helpers import load

from engine.rules.findings import LoadError
from engine.rules.reader import RawItem, read_items


def test_parse_error_is_yaml_parse_with_rules_content_and_location() -> None:
    res = load("- rule: x\n  desc: [unclosed\n")
    assert not res.successful and res.ruleset is None
    (err,) = res.errors
    assert (err.code, err.item_type, err.file) == ("LOAD_ERR_YAML_PARSE", "rules content", "f0.yaml")
    assert err.line >= 2 and "line" in err.message


def test_scalar_document_is_not_yaml() -> None:
    (err,) = load("just words").errors
    assert (err.code, err.item_type, err.message) == (
        "LOAD_ERR_YAML_VALIDATE",
        "rules content",
        "Rules content is not yaml",
    )


def test_mapping_document_is_not_yaml() -> None:
    assert load("rule: x\n").errors[0].message == "Rules content is not yaml array of objects"


def test_non_mapping_item_is_reported_with_its_line() -> None:
    (err,) = load("- list: a\n  items: [x]\n- 42\n").errors
    assert (err.code, err.item_type, err.line, err.column) == (
        "LOAD_ERR_YAML_VALIDATE",
        "rules content item",
        3,
        3,
    )


def test_empty_file_documents_and_entries_load() -> None:
    assert load("").successful
    assert load("- \n-\n").successful
    assert load("---\n---\n").successful


def test_positions_of_items_and_keys() -> None:
    items = [
        i for i in read_items("a.yaml", "# c\n- list: l\n  items:\n    - x\n- macro: m\n  condition: a\n")
    ]
    assert all(isinstance(i, RawItem) for i in items)
    first, second = items
    assert (first.line, first.column) == (2, 3)
    assert first.marks[("items",)] == (4, 5)
    assert first.marks[("items", 0)] == (4, 7)
    assert (second.line, second.column) == (5, 3)
    assert second.pos("macro", "m", "condition").line == 6


def test_multiple_documents_are_read_in_order() -> None:
    items = list(read_items("a.yaml", "- list: a\n  items: []\n---\n- list: b\n  items: []\n"))
    assert [i.data["list"] for i in items if isinstance(i, RawItem)] == ["a", "b"]


def test_equals_sign_and_tag_like_scalars_stay_text() -> None:
    items = list(read_items("a.yaml", "- x: [=, '!=']\n  d: != not a tag\n  y: yes\n  z: true\n"))
    (item,) = items
    assert not isinstance(item, LoadError)
    assert item.data == {"x": ["=", "!="], "d": "not a tag", "y": "yes", "z": True}


def test_codes_are_one_enum_of_falco_names_and_the_result_renders_itself(tmp_path: Path) -> None:
    import orjson

    from engine.rules import load_rules
    from engine.rules.findings import LOAD_ERR_YAML_PARSE, LoadCode

    assert all(code.value == code.name for code in LoadCode) and LOAD_ERR_YAML_PARSE is LoadCode.LOAD_ERR_YAML_PARSE
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: x\n  condition: [\n")
    result = load_rules([bad])
    assert [f.code for f in result.errors] == [LoadCode.LOAD_ERR_YAML_PARSE]
    text = result.as_text().splitlines()
    assert text[0].startswith(f"{bad}:") and " error LOAD_ERR_YAML_PARSE " in text[0]
    assert text[-1] == "FAILED: 1 rules file(s), 1 error(s), 0 warning(s)"
    doc = orjson.loads(result.as_json())
    assert doc["successful"] is False and doc["errors"][0]["code"] == "LOAD_ERR_YAML_PARSE"
