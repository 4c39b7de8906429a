"""Reading suite description files: YAML as the event-generator reads it, with line numbers kept.

Owns: ``SuiteError`` (file, line, test, key path and reason in one line), the list of files a ``--suite`` path
names (a directory contributes its ``*.yaml`` files in name order, not recursively, as ``--description-dir``
does), and a YAML loader that accepts an unquoted template placeholder as a plain scalar
(``runIf: %{ item.runIf }``; Go's parser reads it as a string, PyYAML's safe loader rejects the ``%``) and
records the line of every mapping key (``Located``).

Must not: expand templates or check the language (``templates`` and ``model`` do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.errors import FindingsError


class SuiteError(FindingsError):
    """A suite file is unreadable or breaks the language: one line naming file:line, test and key."""

    def __init__(self, reason: str, *, file: str | Path, line: int | None = None, test: str | None = None,
                 key: str | None = None) -> None:
        where = f"{file}:{line}" if line else str(file)
        parts = [where]
        if test:
            parts.append(f"test {test!r}")
        if key:
            parts.append(key)
        super().__init__(": ".join([*parts, reason]))
        self.file, self.line, self.test, self.key = str(file), line, test, key


class Located(dict[str, Any]):
    """A mapping that remembers its own line and each key's line (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return getattr(self, "key_lines", {}).get(key, self.line)


class _Loader(yaml.SafeLoader):
    def check_plain(self) -> bool:  # type: ignore[override]
        # An unquoted ``%{ item.x }`` is a plain scalar for the event-generator's YAML parser.
        if self.peek() == "%" and self.peek(1) == "{":
            return True
        return bool(super().check_plain())


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    out = Located()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def suite_files(path: Path) -> list[Path]:
    """The description files a ``--suite`` argument names."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".yaml" and p.is_file())
    if path.is_file():
        return [path]
    raise SuiteError("no such file or directory", file=path)


def load_file(path: Path) -> list[Located]:
    """The ``tests`` entries of one description file (each a ``Located`` mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read: {exc}", file=path) from None
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise SuiteError(f"invalid YAML: {exc.problem or exc.context}", file=path,
                         line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"invalid YAML: {exc}", file=path) from None
    if not isinstance(doc, Located):
        raise SuiteError("the document root must be a mapping with a 'tests' list", file=path)
    unknown = sorted(set(doc) - {"tests"})
    if unknown:
        raise SuiteError("unknown key at the document root", file=path, line=doc.line_of(unknown[0]),
                         key=unknown[0])
    tests = doc.get("tests")
    if not isinstance(tests, list) or not tests:
        raise SuiteError("'tests' must be a non-empty list", file=path, line=doc.line_of("tests"), key="tests")
    for index, test in enumerate(tests):
        if not isinstance(test, Located):
            raise SuiteError("each test must be a mapping", file=path, line=doc.line_of("tests"),
                             key=f"tests[{index}]")
    return tests
