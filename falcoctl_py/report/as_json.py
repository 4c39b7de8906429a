"""``-o json``: the report document as indented JSON (orjson)."""

from __future__ import annotations

from typing import Any

import orjson

NAME = "json"


def render(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
