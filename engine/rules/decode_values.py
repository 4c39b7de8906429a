"""Decoding single values of rules items the way Falco's reader does, with its messages.

Owns: required text values (``Item has no mapping for key 'X'``, ``Mapping for key 'X' is empty``), booleans
(YAML and the words yaml-cpp accepts), tags, unknown-key warnings, the ``override`` mapping (which keys may
be appended to or replaced) and the deprecated ``append: true`` flag.

Must not: decide what an item does (``decode``/``decode_rule`` do) or merge anything.
"""

from __future__ import annotations

from engine.rules import findings as F
from engine.rules.findings import LoadError, Position
from engine.rules.reader import RawItem

WARNING_APPEND = (
    "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
)
ERROR_OVERRIDE_APPEND = (
    "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry "
    "(e.g. 'condition: append') under 'override' instead."
)


def text(item: RawItem, key: str, pos: Position) -> str:
    if key not in item.data:
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Item has no mapping for key '{key}'", pos)
    value = item.data[key]
    if value is None or value == "":
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Mapping for key '{key}' is empty", pos)
    if isinstance(value, (dict, list)):
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Value for key '{key}' must be a scalar", pos)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def boolean(item: RawItem, key: str, pos: Position) -> bool:
    value = item.data[key]
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "on", "y"):
        return True
    if word in ("false", "no", "off", "n"):
        return False
    raise LoadError(
        F.LOAD_ERR_YAML_VALIDATE,
        f"Can't decode YAML scalar value for key '{key}': {value!r}",
        item.pos(pos.item_type, pos.item_name, key),
    )


def tags(item: RawItem, pos: Position) -> list[str]:
    value = item.data["tags"]
    if value is None:
        return []
    if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
        raise LoadError(
            F.LOAD_ERR_YAML_VALIDATE,
            "Tags must be a list of strings",
            item.pos(pos.item_type, pos.item_name, "tags"),
        )
    return [str(v) for v in value]


def unknown_keys(item: RawItem, allowed: frozenset[str], pos: Position, sink: F.FindingSink) -> None:
    for key in item.data:
        if key not in allowed:
            sink.warn(F.LOAD_UNKNOWN_KEY, f"Unknown key '{key}'", item.pos(pos.item_type, pos.item_name, key))


def overrides(
    item: RawItem, pos: Position, *, can_append: frozenset[str], can_replace: frozenset[str]
) -> tuple[set[str], set[str]]:
    ov = item.data.get("override")
    if ov is None:
        return set(), set()
    opos = item.pos(F.OVERRIDE, "", "override")
    if not isinstance(ov, dict):
        raise LoadError(F.LOAD_ERR_YAML_VALIDATE, "Override must be a mapping of key to append|replace", opos)
    appends: set[str] = set()
    replaces: set[str] = set()
    for key, op in ov.items():
        kpos = item.pos(F.OVERRIDE, str(key), "override", key)
        if op == "append":
            if key not in can_append:
                raise LoadError(
                    F.LOAD_ERR_YAML_VALIDATE,
                    f"Key '{key}' cannot be appended to, use 'replace' instead",
                    kpos,
                )
            appends.add(key)
        elif op == "replace":
            if key not in can_replace:
                raise LoadError(F.LOAD_ERR_YAML_VALIDATE, f"Key '{key}' cannot be replaced", kpos)
            replaces.add(key)
        else:
            allowed = [name for name, ok in (("append", key in can_append), ("replace", key in can_replace)) if ok]
            raise LoadError(
                F.LOAD_ERR_YAML_VALIDATE,
                f"Invalid override operation for key '{key}': '{op}'. Allowed values are: {', '.join(allowed)}",
                kpos,
            )
    return appends, replaces


def append_flag(item: RawItem, pos: Position, sink: F.FindingSink) -> bool:
    if "append" not in item.data:
        return False
    flag = boolean(item, "append", pos)
    if flag:
        sink.warn(F.LOAD_DEPRECATED_ITEM, WARNING_APPEND, pos)
    return flag
