"""``falcoctl-py rules validate|describe``: exit codes, JSON shape, text lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from falcoctl_py.cli.main import cli

GOOD = "- rule: r\n  desc: d\n  condition: evt.type = open and proc.name in (l)\n  output: o %proc.name\n  priority: info\n"
LIST = "- list: l\n  items: [cat, dog]\n"
BAD_OUTPUT = (
    "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: o %proc.nobody\n  priority: INFO\n"
)
BAD = "- rule: r\n  desc: d\n  condition: evt.type = open and\n  output: o\n  priority: INFO\n"


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("list", LIST), ("good", GOOD), ("bad", BAD), ("bad_output", BAD_OUTPUT)):
        out[name] = tmp_path / f"{name}.yaml"
        out[name].write_text(text)
    return out


# The installed console script (it exits with the command's code, as other tooling sees it).
CLI = str(Path(sys.executable).parent / "falcoctl-py")


def _run(*args: str):
    return CliRunner().invoke(cli, ["rules", *args], catch_exceptions=False, standalone_mode=False)


def test_validate_ok_in_order_with_both_spellings(files: dict[str, Path]) -> None:
    res = _run("validate", "--rules", str(files["list"]), str(files["good"]), "-o", "json")
    data = json.loads(res.output)
    assert data == {"successful": True, "errors": [], "warnings": []}


def test_validate_failure_text_and_exit_code(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [CLI, "rules", "validate", str(files["bad"])], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    first, summary = proc.stdout.strip().splitlines()
    assert first.startswith(f"{files['bad']}:3:14: error LOAD_ERR_COMPILE_CONDITION rule 'r': ")
    assert summary.startswith("FAILED: 1 rules file(s), 1 error(s)")


def test_validate_json_findings_have_contract_keys(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [CLI, "rules", "validate", "-o", "json", "--rules", str(files["bad_output"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["successful"] is False
    (err,) = data["errors"]
    assert set(err) == {"code", "item_type", "item_name", "message", "file", "line", "column"}
    assert (err["code"], err["item_type"], err["item_name"]) == ("LOAD_ERR_COMPILE_OUTPUT", "rule", "r")
    assert err["message"] == "invalid formatting token proc.nobody"
    assert (err["file"], err["line"], err["column"]) == (str(files["bad_output"]), 4, 11)


def test_missing_file_is_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [CLI, "rules", "validate", "--rules", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "rules file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_describe_json(files: dict[str, Path]) -> None:
    res = _run("describe", str(files["list"]), str(files["good"]), "-o", "json")
    data = json.loads(res.output)
    assert data["successful"] is True
    assert data["rules"] == [
        {
            "name": "r",
            "source": "syscall",
            "priority": "Informational",
            "enabled": True,
            "tags": [],
            "condition": "evt.type = open and proc.name in (l)",
            "condition_compiled": "(evt.type = open and proc.name in (cat, dog))",
            "output": "o %proc.name",
        }
    ]


def test_describe_failed_load_still_prints_object(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [CLI, "rules", "describe", "-o", "json", str(files["bad"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["successful"] is False and data["rules"] == [] and data["errors"]


def test_default_rules_flag() -> None:
    res = _run("validate", "--default-rules", "-o", "json")
    assert json.loads(res.output)["successful"] is True


def test_no_files_is_usage_error() -> None:
    proc = subprocess.run([CLI, "rules", "validate"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "no rules files given" in proc.stderr


def test_text_lists_the_other_places_that_shaped_an_item(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(GOOD)
    extra = tmp_path / "extra.yaml"
    extra.write_text("- rule: r\n  condition: and proc.nobody = 1\n  override:\n    condition: append\n")
    res = _run("validate", str(base), str(extra))
    lines = res.output.splitlines()
    assert lines[0].startswith(f"{extra}:1:3: error LOAD_ERR_COMPILE_CONDITION rule 'r': ")
    assert lines[1] == f"    see {base}:1:3: rule 'r'"
