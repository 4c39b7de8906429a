"""Test templates: ``cases`` with the ``vector`` and ``matrix`` strategies, and ``%{ item.<key> }`` placeholders.

Owns: turning one test description into its concrete tests. A placeholder that is the whole string is replaced by
the case value itself (a mapping, a list, null); inside a longer string the value is written as text. Concrete
tests are named ``<name>_testCase#<i>``, ``i`` counting from 0 across every case spec in order (a vector spec
gives one case, a matrix spec the product of its lists, the last key varying fastest). A test without ``cases``
is concrete as it is; a ``cases`` list that is empty instantiates nothing.

Errors (``SuiteError``): a placeholder that is malformed or names a key no case defines, a placeholder in a test
without cases, a case spec with an unknown strategy, case specs that disagree on their keys, a matrix value that
is not a non-empty list.

Must not: check the rest of the language (``model`` does) or run anything.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from falcoctl_py.verify.suite_yaml import Located, SuiteError

PLACEHOLDER = re.compile(r"%\{\s*item\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_WHOLE = re.compile(r"^\s*" + PLACEHOLDER.pattern + r"\s*$")
_ANY = re.compile(r"%\{[^}]*\}?")


@dataclass(frozen=True)
class Concrete:
    """One concrete test: its name, its description with placeholders replaced, and the case it came from."""

    name: str
    body: Located
    case: dict[str, Any] | None
    file: Path


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _placeholders(value: Any, path: str, out: list[tuple[str, str, int]], line: int) -> None:
    """Every placeholder key in ``value`` with the key path and line it sits at; malformed ones raise."""
    if isinstance(value, str):
        for found in _ANY.finditer(value):
            whole = PLACEHOLDER.fullmatch(found.group(0))
            out.append((whole.group(1) if whole else "", path or "(test)", line))
            if whole is None:
                out[-1] = (f"!{found.group(0)}", path, line)
    elif isinstance(value, Located):
        for key, item in value.items():
            _placeholders(item, f"{path}.{key}" if path else key, out, value.line_of(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _placeholders(item, f"{path}[{index}]", out, line)


def _substitute(value: Any, case: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _WHOLE.match(value)
        if whole:
            return case[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: _text(case[m.group(1)]), value)
    if isinstance(value, Located):
        out = Located((k, _substitute(v, case)) for k, v in value.items())
        out.line, out.key_lines = value.line, dict(getattr(value, "key_lines", {}))
        return out
    if isinstance(value, list):
        return [_substitute(v, case) for v in value]
    return value


def _cases(test: Located, file: Path, name: str) -> list[dict[str, Any]]:
    specs = test["cases"]
    line = test.line_of("cases")
    if not isinstance(specs, list):
        raise SuiteError("must be a list of case specifications", file=file, line=line, test=name, key="cases")
    cases: list[dict[str, Any]] = []
    keys: set[str] | None = None
    for index, spec in enumerate(specs):
        where = f"cases[{index}]"
        spec_line = spec.line if isinstance(spec, Located) else line
        if not isinstance(spec, Located):
            raise SuiteError("must be a mapping with 'strategy' and 'values'", file=file, line=line, test=name,
                             key=where)
        unknown = sorted(set(spec) - {"strategy", "values"})
        if unknown:
            raise SuiteError("unknown key", file=file, line=spec.line_of(unknown[0]), test=name,
                             key=f"{where}.{unknown[0]}")
        strategy, values = spec.get("strategy"), spec.get("values")
        if not isinstance(values, Located) or not values:
            raise SuiteError("must be a non-empty mapping of template keys", file=file, line=spec_line,
                             test=name, key=f"{where}.values")
        if keys is not None and set(values) != keys:
            raise SuiteError(f"declares keys {sorted(values)}, earlier cases declare {sorted(keys)} (every case "
                             "must declare the same keys)", file=file, line=spec_line, test=name,
                             key=f"{where}.values")
        keys = set(values)
        if strategy == "vector":
            cases.append(dict(values))
        elif strategy == "matrix":
            lists = []
            for key, items in values.items():
                if not isinstance(items, list) or not items:
                    raise SuiteError("a matrix value must be a non-empty list", file=file,
                                     line=values.line_of(key), test=name, key=f"{where}.values.{key}")
                lists.append(items)
            cases.extend(dict(zip(values, combo, strict=True)) for combo in itertools.product(*lists))
        else:
            raise SuiteError(f"unknown strategy {strategy!r} (known: vector, matrix)", file=file,
                             line=spec.line_of("strategy"), test=name, key=f"{where}.strategy")
    return cases


def expand(test: Located, file: Path) -> list[Concrete]:
    """The concrete tests one description entry stands for."""
    name = test.get("name")
    label = name if isinstance(name, str) else None
    body = Located((k, v) for k, v in test.items() if k != "cases")
    body.line, body.key_lines = test.line, dict(getattr(test, "key_lines", {}))
    found: list[tuple[str, str, int]] = []
    _placeholders(body, "", found, test.line)
    for key, path, line in found:
        if key.startswith("!"):
            raise SuiteError(f"malformed template placeholder {key[1:]!r} (expected %{{ item.<key> }})",
                             file=file, line=line, test=label, key=path)
    if "cases" not in test:
        if found:
            key, path, line = found[0]
            raise SuiteError(f"placeholder %{{ item.{key} }} in a test without 'cases'", file=file, line=line,
                             test=label, key=path)
        return [Concrete(str(name), body, None, file)]
    cases = _cases(test, file, str(label))
    if cases:
        for key, path, line in found:
            if key not in cases[0]:
                raise SuiteError(f"placeholder %{{ item.{key} }} names no key of the cases "
                                 f"({', '.join(sorted(cases[0]))})", file=file, line=line, test=label, key=path)
    out = []
    for index, case in enumerate(cases):
        concrete = _substitute(body, case)
        concrete["name"] = f"{name}_testCase#{index}"
        out.append(Concrete(concrete["name"], concrete, case, file))
    return out
