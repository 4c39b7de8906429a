"""JSON values as the engine receives them (API objects, OCI documents, YAML safe-loads), typed without ``Any``.

Owns: the ``JSON`` alias and the three narrowing reads every consumer of such a document needs — a member as an
object, as a list of objects, as a string — each giving an empty or missing value for any other shape, so code
that reads a document written by someone else never trusts its shape.

Must not: parse or validate (callers use orjson/yaml and their own checks), or import anything outside the stdlib.
"""

from __future__ import annotations

from typing import TypeAlias

JSON: TypeAlias = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
JSONObject: TypeAlias = dict[str, JSON]


def as_object(value: JSON) -> JSONObject:
    """``value`` when it is an object, else ``{}``."""
    return value if isinstance(value, dict) else {}


def as_objects(value: JSON) -> list[JSONObject]:
    """The objects in ``value`` when it is a list (other items skipped), else ``[]``."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def as_str(value: JSON) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None
