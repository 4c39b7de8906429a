"""Stage 1 of rules loading: YAML text -> top-level items with the line/column of every node.

Owns: parsing with libyaml (``yaml.CSafeLoader``, all documents of a file), the Falco findings for content
that is not YAML, not a list, or holds non-mapping items, and the ``RawItem`` record (decoded data plus the
1-based position of each node, addressed by its path inside the item).

Must not: interpret items (``decode`` does) or keep state across files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from engine.rules.findings import (
    LOAD_ERR_YAML_PARSE,
    LOAD_ERR_YAML_VALIDATE,
    RULES_CONTENT,
    RULES_CONTENT_ITEM,
    LoadError,
    Position,
)

Path = tuple[str | int, ...]


class _RulesLoader(yaml.CSafeLoader):
    """libyaml with the scalars Falco's YAML reader keeps as text: ``=`` (YAML 1.1's "value" tag, common in
    exception comps), ``yes``/``no``/``on``/``off`` (booleans only when spelled true/false), and values under
    unknown tags."""


def _untagged(loader: Any, node: Any) -> Any:
    """Unknown tags (``desc: != x`` reads as the tag ``!=``) are ignored, as yaml-cpp ignores them."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_RulesLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)  # type: ignore[type-var]
_RulesLoader.add_constructor(None, _untagged)
_RulesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_RulesLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True, slots=True)
class RawItem:
    """One top-level list entry of a rules file."""

    file: str
    data: dict[str, object]
    line: int
    column: int
    marks: dict[Path, tuple[int, int]]

    def pos(self, item_type: str, item_name: str = "", *path: str | int) -> Position:
        """Position of the node at ``path`` (or of the item itself), labelled with an item type and name."""
        line, column = self.marks.get(tuple(path), (self.line, self.column))
        return Position(self.file, line, column, item_type, item_name)


# Keys whose nested nodes get positions of their own (findings point inside them); elsewhere only the item and
# its keys are recorded, which keeps reading fast for long lists.
_DEEP_KEYS = frozenset({"exceptions", "override", "required_plugin_versions", "items"})


def _record(node: yaml.Node, path: Path, marks: dict[Path, tuple[int, int]]) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if path and path[0] not in _DEEP_KEYS:
        return
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                _record(value, (*path, key.value), marks)
    elif isinstance(node, yaml.SequenceNode) and (not path or path[0] != "items" or len(path) == 1):
        for i, value in enumerate(node.value):
            _record(value, (*path, i), marks)


def _parse_error(exc: yaml.YAMLError, file: str) -> LoadError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = f"yaml parse error at line {line}, column {column}: {problem}"
    return LoadError(LOAD_ERR_YAML_PARSE, message, Position(file, line, column, RULES_CONTENT, file))


def read_items(file: str, content: str) -> Iterator[RawItem | LoadError]:
    """Items of every YAML document in ``content``; a ``LoadError`` is yielded for an item that is not a
    mapping. A file that does not parse or whose document is not a list raises ``LoadError``."""
    docs: list[tuple[Any, Any]] = []
    loader = _RulesLoader(content)
    try:
        while loader.check_node():
            node = loader.get_node()
            docs.append((node, loader.construct_document(node)))
    except yaml.YAMLError as exc:
        raise _parse_error(exc, file) from None
    finally:
        loader.dispose()
    for node, data in docs:
        if data is None:
            continue
        if not isinstance(node, yaml.SequenceNode):
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
            raise LoadError(
                LOAD_ERR_YAML_VALIDATE,
                "Rules content is not yaml array of objects"
                if isinstance(node, yaml.MappingNode)
                else "Rules content is not yaml",
                Position(file, line, column, RULES_CONTENT, file),
            )
        for item_node, item in zip(node.value, data):
            if item is None:
                continue  # an empty entry ("- "), skipped as Falco skips it
            line, column = item_node.start_mark.line + 1, item_node.start_mark.column + 1
            if not isinstance(item, dict):
                yield LoadError(
                    LOAD_ERR_YAML_VALIDATE,
                    "Unexpected element type. Each element should be a yaml associative array.",
                    Position(file, line, column, RULES_CONTENT_ITEM, ""),
                )
                continue
            marks: dict[Path, tuple[int, int]] = {}
            _record(item_node, (), marks)
            yield RawItem(file, item, line, column, marks)
