"""``falcoctl-py values``: sized values printed, typos refused with exit 2 and one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from cli_support import run


def test_values_yaml_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "values", "--profile", "medium", "--set", "image.tag=9.9.9")
    assert code == 0, err
    values = yaml.safe_load(out)
    assert values["image"]["tag"] == "9.9.9" and values["syscall"]["backend"] == "ebpf"
    code, out, _ = run(capsys, "values", "--profile", "medium", "-o", "json")
    assert json.loads(out)["nodePools"]["pools"][0]["name"] == "general"


def test_typo_refused_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "v.yaml"
    f.write_text("image:\n  tagg: x\n")
    code, out, err = run(capsys, "values", "-f", str(f))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown key 'tagg'" in err and "Traceback" not in err


def test_bad_cost_model_is_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "c.json"
    f.write_text('{"schema_version": 1}')
    code, _, err = run(capsys, "values", "--cost-model", str(f))
    assert code == 1 and "cost model" in err and "required property" in err


def test_unknown_profile_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "values", "--profile", "gigantic")
    assert code == 2 and "unknown profile 'gigantic'" in err


def test_strategy_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "values", "--profile", "small", "--strategy", "guaranteed")
    assert code == 0, err
    res = yaml.safe_load(out)["daemonset"]["resources"]
    assert res["requests"] == res["limits"]


@pytest.mark.parametrize(
    ("flag", "name", "code", "what"),
    [
        ("-f", "bad.yaml", 2, "values file is not valid YAML"),
        ("--cost-model", "garbage.bin", 1, "cost model is not valid YAML"),
        ("--cost-model", "bad.json", 1, "cost model is not valid JSON"),
        ("--profile", "garbage.bin", 1, "profile is not valid YAML"),
    ],
)
def test_unparsable_inputs_name_file_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, flag: str, name: str, code: int, what: str
) -> None:
    f = tmp_path / name
    f.write_text('{"a": 1,\n "b": }\n' if name.endswith(".json") else "a: 1\nb: [1, {\n")
    got, out, err = run(capsys, "values", flag, str(f))
    assert got == code and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"Error: {f}:") and f": {what}: " in err, err
    assert err.split(":")[2].isdigit() and err.split(":")[3].isdigit(), err
