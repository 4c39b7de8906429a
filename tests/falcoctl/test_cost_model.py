"""Cost-model loading: the shipped default, round trips, and one clear error (exit 1) per bad document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from falcoctl_py.cost_model import cost_model_from_dict, load_cost_model
from falcoctl_py.errors import EXIT_FINDINGS, FindingsError
from falcoctl_py.resources import default_cost_model_path


def test_default_loads_and_marks_estimates() -> None:
    model = load_cost_model()
    assert set(model.cpu_seconds_per_1k) == {"k8s_audit", "syscall"}
    assert not model.cpu_seconds_per_1k["syscall"].estimate  # measured by bench_syscall on a live kernel
    assert model.estimated_terms == ["memory.per_pod_bytes"]  # not measured yet: must say so


def test_yaml_and_json_files_load(tmp_path: Path) -> None:
    doc = json.loads(default_cost_model_path().read_text())
    doc["cpu_seconds_per_1k_events"]["k8s_audit"].update(
        value=0.4, estimate=False, samples=30, how="tune-local"
    )
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(doc))
    model = load_cost_model(tmp_path / "m.yaml")
    assert model.cpu_seconds_per_1k["k8s_audit"].value == 0.4
    assert "cpu_seconds_per_1k_events.k8s_audit" not in model.estimated_terms
    assert model.cpu_millicores_for("k8s_audit", 1000) == pytest.approx(400.0)


def _bad(mutate: object) -> dict:
    doc = json.loads(default_cost_model_path().read_text())
    mutate(doc)  # type: ignore[operator]
    return doc


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d["cpu_seconds_per_1k_events"].pop("syscall"), "'syscall' is a required property"),
        (lambda d: d["memory"]["base_bytes"].update(value=-1), "memory.base_bytes.value"),
        (lambda d: d.update(method="guess"), "method"),
        (lambda d: d.update(extra=1), "unknown key 'extra'"),
        (lambda d: d.update(schema_version=2), "schema_version"),
    ],
)
def test_invalid_documents_name_the_problem(mutate: object, needle: str) -> None:
    with pytest.raises(FindingsError) as info:
        cost_model_from_dict(_bad(mutate), origin="x.json")
    assert needle in str(info.value) and "x.json" in str(info.value)
    assert info.value.exit_code == EXIT_FINDINGS


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(FindingsError, match="cannot read cost model"):
        load_cost_model(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(FindingsError, match=r"broken.json:1:2: cost model is not valid JSON: "):
        load_cost_model(tmp_path / "broken.json")


def test_unparsable_file_of_other_extension_is_yaml_with_position(tmp_path: Path) -> None:
    (tmp_path / "garbage.bin").write_bytes(b"a: 1\nb: \x12\x00\xff\n")
    with pytest.raises(FindingsError) as info:
        load_cost_model(tmp_path / "garbage.bin")
    assert str(info.value).startswith(f"{tmp_path / 'garbage.bin'}:2:4: cost model is not valid YAML: ")
    (tmp_path / "broken.model").write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(FindingsError, match=r"broken.model:2:2: cost model is not valid YAML: did not find"):
        load_cost_model(tmp_path / "broken.model")
