"""Every syscall field and event type the upstream Falco rules use resolves in our tables."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from engine.fields import lookup
from engine.fields.base import ArgMode, FieldSpec
from engine.fields.evt import EVENT_TYPES, SYSCALLS_FOR_EVENT

RULE_FILES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
_FIELD = re.compile(r"(?<![\w.%-])%?\(?((?:evt|proc|thread|fd|fs\.path|user|group|container|k8s|syscall)"
                    r"\.[A-Za-z0-9_.]*[A-Za-z0-9_])(\[[^\]]*\])?")
_EVT_TYPE = re.compile(r"evt\.type\s*(?:=|!=|in|pmatch)\s*(\([^)]*\)|[\w.-]+)")


def _items(path: Path) -> list[dict]:
    return [i for i in yaml.safe_load(path.read_text()) or [] if isinstance(i, dict)]


def _lists(paths: list[Path]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in paths:
        for item in _items(path):
            if "list" in item:
                out.setdefault(item["list"], []).extend(str(v) for v in item.get("items") or [])
    return out


def _texts(path: Path) -> list[tuple[str, str]]:
    out = []
    for item in _items(path):
        name = item.get("rule") or item.get("macro") or item.get("list")
        for key in ("condition", "output"):
            if isinstance(item.get(key), str):
                out.append((f"{path.name}:{name}:{key}", item[key]))
    return out


def resolve(name: str, bracket: str | None) -> FieldSpec | None:
    """The spec a field reference names: exact, or a dotted-argument form (evt.arg.flags, k8s.pod.label.app)."""
    spec = lookup("syscall", name)
    if spec is not None:
        if bracket and spec.arg is ArgMode.NONE:
            return None
        if not bracket and spec.arg is ArgMode.REQUIRED:
            return None
        return spec
    parts = name.split(".")
    for cut in range(len(parts) - 1, 1, -1):
        spec = lookup("syscall", ".".join(parts[:cut]))
        if spec is not None and spec.dotted_arg and not bracket:
            return spec
    return None


@pytest.fixture(scope="module")
def rule_paths(upstream_rules: Path) -> list[Path]:
    return [upstream_rules / name for name in RULE_FILES]


def test_every_field_reference_resolves(rule_paths: list[Path]) -> None:
    seen: set[str] = set()
    unresolved: list[str] = []
    for path in rule_paths:
        for where, text in _texts(path):
            for match in _FIELD.finditer(text):
                name, bracket = match.group(1), match.group(2)
                seen.add(name)
                if resolve(name, bracket) is None:
                    unresolved.append(f"{where}: {name}{bracket or ''}")
    assert len(seen) > 80, "the regex found too few field references: the scan itself is broken"
    assert not unresolved, "\n".join(sorted(set(unresolved)))


def test_every_evt_type_value_is_known(rule_paths: list[Path]) -> None:
    lists = _lists(rule_paths)
    used: set[str] = set()
    for path in rule_paths:
        for _where, text in _texts(path):
            for match in _EVT_TYPE.finditer(text):
                for word in re.split(r"[\s,()]+", match.group(1)):
                    word = word.strip("'\"")
                    if word:
                        used.update(lists.get(word, [word]))
    assert {"execve", "openat", "connect", "ptrace", "procexit"} & used, "scan found none of the usual types"
    assert len(used) > 30
    unknown = sorted(t for t in used if t not in EVENT_TYPES)
    assert not unknown, f"evt.type values not in EVENT_TYPES: {unknown}"


def test_event_types_map_to_syscalls() -> None:
    assert SYSCALLS_FOR_EVENT["pread"] == ("pread64",)
    assert SYSCALLS_FOR_EVENT["openat"] == ("openat",)
    assert SYSCALLS_FOR_EVENT["procexit"] == ("exit", "exit_group")
    assert SYSCALLS_FOR_EVENT["container"] == ()
    assert set(SYSCALLS_FOR_EVENT) == EVENT_TYPES
    assert {"switch", "signaldeliver", "container", "procexit", "execve", "execveat"} <= EVENT_TYPES


@pytest.mark.parametrize(("name", "bracket", "found"), [
    ("evt.arg.flags", None, "evt.arg"),
    ("evt.arg", "[0]", "evt.arg"),
    ("k8s.pod.label.app", None, "k8s.pod.label"),
    ("proc.aname", "[2]", "proc.aname"),
    ("proc.aname", None, "proc.aname"),
    ("proc.name", "[1]", None),  # takes no argument
    ("evt.arg", None, None),  # argument required
    ("proc.nosuchfield", None, None),
])
def test_resolver_itself(name: str, bracket: str | None, found: str | None) -> None:
    spec = resolve(name, bracket)
    assert (spec.name if spec else None) == found


def test_evt_arg_names_exist_for_the_event_types_rules_read_them_on(rule_paths: list[Path]) -> None:
    """Each ``evt.arg.NAME`` a rule uses is an argument of at least one event type in our argument tables."""
    from engine.fields.evttypes import EVENT_ARG_BY_NAME

    known = {name for args in EVENT_ARG_BY_NAME.values() for name in args}
    used: set[str] = set()
    for path in rule_paths:
        for _where, text in _texts(path):
            used.update(re.findall(r"evt\.(?:raw)?arg\.(\w+)", text))
    assert {"flags", "name", "request", "domain"} <= used
    assert not sorted(used - known), f"evt.arg names with no event argument: {sorted(used - known)}"
