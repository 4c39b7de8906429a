"""Load findings: Falco's result codes, item-type words, positions and the ``Finding`` record.

Owns: ``Finding`` (what ``LoadResult.errors``/``.warnings`` hold), ``Position`` (file, 1-based line/column,
item type and name), the ``LoadCode`` enum, and ``LoadError`` -- the exception the reader, collector and compiler
raise for one item so the loader can record it and carry on with the next item.

Must not: read YAML, decide rule semantics or print anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final


class LoadCode(StrEnum):
    """Falco's result codes (its ``load_result``), errors then warnings; each value is Falco's own name, so a
    code compares equal to, prints and serializes as that string."""

    LOAD_ERR_FILE_READ = "LOAD_ERR_FILE_READ"
    LOAD_ERR_YAML_PARSE = "LOAD_ERR_YAML_PARSE"
    LOAD_ERR_YAML_VALIDATE = "LOAD_ERR_YAML_VALIDATE"
    LOAD_ERR_COMPILE_CONDITION = "LOAD_ERR_COMPILE_CONDITION"
    LOAD_ERR_COMPILE_OUTPUT = "LOAD_ERR_COMPILE_OUTPUT"
    LOAD_ERR_VALIDATE = "LOAD_ERR_VALIDATE"
    LOAD_ERR_EXTENSION = "LOAD_ERR_EXTENSION"
    LOAD_UNKNOWN_SOURCE = "LOAD_UNKNOWN_SOURCE"
    LOAD_UNSAFE_NA_CHECK = "LOAD_UNSAFE_NA_CHECK"
    LOAD_NO_EVTTYPE = "LOAD_NO_EVTTYPE"
    LOAD_UNKNOWN_FILTER = "LOAD_UNKNOWN_FILTER"
    LOAD_UNUSED_MACRO = "LOAD_UNUSED_MACRO"
    LOAD_UNUSED_LIST = "LOAD_UNUSED_LIST"
    LOAD_UNKNOWN_ITEM = "LOAD_UNKNOWN_ITEM"
    LOAD_DEPRECATED_ITEM = "LOAD_DEPRECATED_ITEM"
    LOAD_WARNING_EXTENSION = "LOAD_WARNING_EXTENSION"
    LOAD_APPEND_NO_VALUES = "LOAD_APPEND_NO_VALUES"
    LOAD_EXCEPTION_NAME_NOT_UNIQUE = "LOAD_EXCEPTION_NAME_NOT_UNIQUE"
    LOAD_INVALID_MACRO_NAME = "LOAD_INVALID_MACRO_NAME"
    LOAD_INVALID_LIST_NAME = "LOAD_INVALID_LIST_NAME"
    LOAD_COMPILE_CONDITION = "LOAD_COMPILE_CONDITION"
    LOAD_UNKNOWN_KEY = "LOAD_UNKNOWN_KEY"


# The codes as module constants too (``LOAD_ERR_VALIDATE is LoadCode.LOAD_ERR_VALIDATE``).
LOAD_ERR_FILE_READ: Final = LoadCode.LOAD_ERR_FILE_READ
LOAD_ERR_YAML_PARSE: Final = LoadCode.LOAD_ERR_YAML_PARSE
LOAD_ERR_YAML_VALIDATE: Final = LoadCode.LOAD_ERR_YAML_VALIDATE
LOAD_ERR_COMPILE_CONDITION: Final = LoadCode.LOAD_ERR_COMPILE_CONDITION
LOAD_ERR_COMPILE_OUTPUT: Final = LoadCode.LOAD_ERR_COMPILE_OUTPUT
LOAD_ERR_VALIDATE: Final = LoadCode.LOAD_ERR_VALIDATE
LOAD_ERR_EXTENSION: Final = LoadCode.LOAD_ERR_EXTENSION
LOAD_UNKNOWN_SOURCE: Final = LoadCode.LOAD_UNKNOWN_SOURCE
LOAD_UNSAFE_NA_CHECK: Final = LoadCode.LOAD_UNSAFE_NA_CHECK
LOAD_NO_EVTTYPE: Final = LoadCode.LOAD_NO_EVTTYPE
LOAD_UNKNOWN_FILTER: Final = LoadCode.LOAD_UNKNOWN_FILTER
LOAD_UNUSED_MACRO: Final = LoadCode.LOAD_UNUSED_MACRO
LOAD_UNUSED_LIST: Final = LoadCode.LOAD_UNUSED_LIST
LOAD_UNKNOWN_ITEM: Final = LoadCode.LOAD_UNKNOWN_ITEM
LOAD_DEPRECATED_ITEM: Final = LoadCode.LOAD_DEPRECATED_ITEM
LOAD_WARNING_EXTENSION: Final = LoadCode.LOAD_WARNING_EXTENSION
LOAD_APPEND_NO_VALUES: Final = LoadCode.LOAD_APPEND_NO_VALUES
LOAD_EXCEPTION_NAME_NOT_UNIQUE: Final = LoadCode.LOAD_EXCEPTION_NAME_NOT_UNIQUE
LOAD_INVALID_MACRO_NAME: Final = LoadCode.LOAD_INVALID_MACRO_NAME
LOAD_INVALID_LIST_NAME: Final = LoadCode.LOAD_INVALID_LIST_NAME
LOAD_COMPILE_CONDITION: Final = LoadCode.LOAD_COMPILE_CONDITION
LOAD_UNKNOWN_KEY: Final = LoadCode.LOAD_UNKNOWN_KEY

# Falco's item-type words, as they appear in findings.
RULES_CONTENT = "rules content"
RULES_CONTENT_ITEM = "rules content item"
REQUIRED_ENGINE_VERSION = "required_engine_version"
REQUIRED_PLUGIN_VERSIONS = "required_plugin_versions"
LIST = "list"
MACRO = "macro"
RULE = "rule"
EXCEPTION = "exception"
OVERRIDE = "override"


@dataclass(frozen=True, slots=True)
class Position:
    """Where an item is: file name, 1-based line and column, and what the item is."""

    file: str
    line: int
    column: int
    item_type: str
    item_name: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "item_type": self.item_type,
            "item_name": self.item_name,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One error or warning. ``context_chain`` lists the other places (oldest first) that shaped the item,
    e.g. the definition in another file that an ``override`` item changed."""

    code: LoadCode
    item_type: str
    item_name: str
    message: str
    file: str
    line: int
    column: int
    context_chain: tuple[Position, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, Any] = {
            "code": self.code,
            "item_type": self.item_type,
            "item_name": self.item_name,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }
        if self.context_chain:
            out["context_chain"] = [p.to_dict() for p in self.context_chain]
        return out

    def to_text(self, kind: str) -> str:
        return (
            f"{self.file}:{self.line}:{self.column}: {kind} {self.code} {self.item_type} "
            f"'{self.item_name}': {self.message}"
        )


def finding_at(
    code: LoadCode,
    message: str,
    pos: Position,
    *,
    chain: tuple[Position, ...] = (),
    item_type: str | None = None,
    item_name: str | None = None,
) -> Finding:
    """A finding located at ``pos`` (item type/name taken from it unless given)."""
    extra = tuple(p for p in chain if p != pos)
    return Finding(
        code,
        item_type if item_type is not None else pos.item_type,
        item_name if item_name is not None else pos.item_name,
        message,
        pos.file,
        pos.line,
        pos.column,
        extra,
    )


class LoadError(Exception):
    """One item could not be loaded; the loader records it as an error finding and goes on."""

    def __init__(self, code: LoadCode, message: str, pos: Position, *, chain: tuple[Position, ...] = ()) -> None:
        super().__init__(message)
        self.finding = finding_at(code, message, pos, chain=chain)


@dataclass(slots=True)
class FindingSink:
    """Collects errors and warnings in the order they are found."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def error(self, code: LoadCode, message: str, pos: Position, *, chain: tuple[Position, ...] = ()) -> None:
        self.errors.append(finding_at(code, message, pos, chain=chain))

    def warn(self, code: LoadCode, message: str, pos: Position, *, chain: tuple[Position, ...] = ()) -> None:
        self.warnings.append(finding_at(code, message, pos, chain=chain))
