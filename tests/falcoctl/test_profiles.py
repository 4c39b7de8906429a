"""Profiles: the four shipped ones load; bad profiles are refused with the file and the problem named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from falcoctl_py.errors import FindingsError, UsageError
from falcoctl_py.profiles import available_profiles, load_profile
from falcoctl_py.resources import profiles_dir


def test_shipped_profiles() -> None:
    assert available_profiles() == ["audit-only", "large", "medium", "small"]
    large = load_profile("large")
    assert {p.name for p in large.pools} == {"system", "general", "highmem"}
    assert max(p.cpu for p in large.pools) == 192
    assert large.sizing.percentile == 90 and large.sizing.margin == 0.15
    assert large.sizing.floor_memory_bytes == 256 * 2**20
    assert load_profile("audit-only").audit_delivery == "log-file"


def _write(tmp_path: Path, mutate: object) -> Path:
    doc = yaml.safe_load((profiles_dir() / "medium.yaml").read_text())
    mutate(doc)  # type: ignore[operator]
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d["pools"][0].update(cpu=256), "pools[0].cpu"),
        (lambda d: d["pools"][0].update(cpus=8), "unknown key 'cpus'"),
        (lambda d: d.update(syscall_backend="none"), "needs syscall_backend"),
        (lambda d: d["rates"].pop("syscall"), "rates.syscall missing"),
        (lambda d: d["pools"].append(dict(d["pools"][0])), "used twice"),
        (lambda d: d["sizing"].update(percentile=95), "sizing.percentile"),
        (lambda d: d.update(audit_delivery="none"), "needs audit_delivery"),
        (lambda d: d.update(audit_delivery="log-file"), "needs a pool labeled"),
    ],
)
def test_bad_profiles_refused(tmp_path: Path, mutate: object, needle: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(FindingsError) as info:
        load_profile(path)
    assert needle in str(info.value) and str(path) in str(info.value)


def test_unknown_name_lists_available() -> None:
    with pytest.raises(UsageError, match="available: audit-only, large, medium, small"):
        load_profile("huge")


def test_existing_file_without_yaml_extension_is_read_as_a_profile(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("garbage.bin").write_bytes(b"name: x\n  bad: [\n")
    with pytest.raises(FindingsError, match=r"^garbage.bin:2:6: profile is not valid YAML: ") as info:
        load_profile("garbage.bin")
    assert info.value.exit_code == 1
    Path("mine").write_text((profiles_dir() / "small.yaml").read_text())
    assert load_profile("mine").origin == "mine"
